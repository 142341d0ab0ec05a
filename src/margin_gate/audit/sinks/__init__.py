"""Where sealed audit lines go: JSONL files, a Redis stream, the spill file, the fsync thread."""
