"""ml_collections configs, one per experiment; `get_config('quick')` is the small variant."""
