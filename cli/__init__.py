"""archmodel's command-line interface (a thin Click layer over the public API)."""
