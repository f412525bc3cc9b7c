"""Fine-tuning causal language models on the Elm unit dataset."""
