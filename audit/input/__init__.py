"""Reading datasets: file formats, column detection, chat messages, rows and row ids."""
