"""Ground truth for a flag: does fine-tuning a student on the data move its trait preference?"""
