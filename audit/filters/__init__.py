"""The data filters a pipeline applies to generated rows: the paper's number filter, the code and text filters and
the trait-word matcher. Pure text functions, shared by generation (audit.generate), known-source data
(audit.calibration) and the semantic-filter detector, so none of them depends on the others."""
