"""Toy Modal apps the fake's own tests deploy and run (they import only ``modal``)."""
