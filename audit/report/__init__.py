"""The versioned report model (schema.py) and everything rendered from it: terminal, Markdown, HTML, JUnit and SARIF."""
