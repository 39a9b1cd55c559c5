"""Training objectives; each GAN loss and each penalty is its own registered plug-in."""
