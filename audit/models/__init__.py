"""Models: specs and identities, the weights store, LoRA adapters, vocabularies, chat-template
encoding and the scoring backends."""
