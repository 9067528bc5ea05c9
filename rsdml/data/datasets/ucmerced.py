"""UC Merced Land Use: 21 land-use classes of 256 px aerial scenes (USGS orthoimagery)."""

from __future__ import annotations

from rsdml.data.datasets.base import KnownDataset


class UCMerced(KnownDataset):
    """UC Merced Land Use (Yang & Newsam, ACM SIGSPATIAL GIS 2010): 21 classes x 100, 256 px, TIFF."""

    name = "ucmerced"
    title = "UC Merced Land Use"
    homepage = "http://weegee.vision.ucmerced.edu/datasets/landuse.html"
    citation = "Yang & Newsam, Bag-of-visual-words and spatial extensions for land-use classification, ACM GIS 2010"
    # Official host first, then torchgeo's Hugging Face mirror; torchgeo uses the same MD5 for both.
    urls = (
        "http://weegee.vision.ucmerced.edu/datasets/UCMerced_LandUse.zip",
        "https://huggingface.co/datasets/torchgeo/ucmerced/resolve/main/UCMerced_LandUse.zip",
    )
    filename = "UCMerced_LandUse.zip"
    md5 = "5b7ec56793786b6dc8a908e8854ac0e4"
    archive_size = "about 318 MB"
    subdirs = ("UCMerced_LandUse/Images",)
    class_counts = dict.fromkeys(
        (
            "agricultural",
            "airplane",
            "baseballdiamond",
            "beach",
            "buildings",
            "chaparral",
            "denseresidential",
            "forest",
            "freeway",
            "golfcourse",
            "harbor",
            "intersection",
            "mediumresidential",
            "mobilehomepark",
            "overpass",
            "parkinglot",
            "river",
            "runway",
            "sparseresidential",
            "storagetanks",
            "tenniscourt",
        ),
        100,
    )
    native_size = 256
