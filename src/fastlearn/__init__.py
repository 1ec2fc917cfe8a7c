"""fastlearn: the fast.ai course workflow on plain PyTorch."""
__version__ = "0.1.0"
