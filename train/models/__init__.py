"""The paper's network: STN detector, encoder with time-variant / time-invariant outputs, decoder."""
