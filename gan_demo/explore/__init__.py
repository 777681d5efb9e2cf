"""What a trained run is explored with: latents, the Sampler, projection, the 2D lab's numbers."""
