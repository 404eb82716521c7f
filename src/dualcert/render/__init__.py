"""Stage 7, output: the results JSON, the HTML report sections and the terminal text."""
