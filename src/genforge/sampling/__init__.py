"""Pure sampling functions: (network, noise/labels, generator) -> samples. No hidden state."""
