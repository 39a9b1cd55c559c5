"""Datasets: built-in (mnist, digits), image folders and .npz files; splits and batch order."""
from genforge.data.imageset import DataInfo, ImageSet
from genforge.data.prepare import PreparedData, load_images, prepare

__all__ = ["DataInfo", "ImageSet", "PreparedData", "load_images", "prepare"]
