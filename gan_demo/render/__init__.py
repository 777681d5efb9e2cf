"""Tensors -> pictures: sample grids, the 2D lab's pictures, GIFs, the model diagram."""
