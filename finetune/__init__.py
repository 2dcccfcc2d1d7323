"""Qiao fine-tuning bridge: OpenAI chat transcripts into every vendor's fine-tuning format."""

__version__ = "0.1.0"
