"""Bundled model files: the derived face model, weights and their licences."""
