"""The `lab` command: demos and checks for Let's Build A Web Server, Part 3."""

__version__ = "0.1.0"
