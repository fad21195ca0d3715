"""An example model server: a small iris classifier behind POST /predict, with the
metrics modelrollout's built-in analysis templates query, and fault switches that
make a deliberately bad version (errors, latency, slow start)."""
