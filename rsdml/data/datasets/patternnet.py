"""PatternNet: 38 classes of 256 px images, built for remote-sensing image retrieval."""

from __future__ import annotations

from rsdml.data.datasets.base import KnownDataset


class PatternNet(KnownDataset):
    """PatternNet (Zhou et al., ISPRS J. 2018): 38 classes x 800, 256 px, JPEG."""

    name = "patternnet"
    title = "PatternNet"
    homepage = "https://sites.google.com/view/zhouwx/dataset"
    citation = "Zhou et al., PatternNet: a benchmark dataset for performance evaluation of remote sensing image retrieval, ISPRS J. 2018"
    # The official copy is a Google Drive file (id 127lxXYqzO6Bd0yZhvEbgIfz95HaEnr9K) that plain
    # HTTP cannot fetch; this Hugging Face mirror URL is UNVERIFIED (seen in third-party code).
    # MD5 is torchgeo's for the Drive archive; that the mirror is byte-identical is UNVERIFIED.
    urls = (
        "https://hf.co/datasets/torchgeo/PatternNet/resolve/"
        "2dbd901b00e301967a5c5146b25454f5d3455ad0/PatternNet.zip",
    )
    filename = "PatternNet.zip"
    md5 = "96d54b3224c5350a98d55d5a7e6984ad"
    archive_size = "about 1.4 GB"
    subdirs = ("PatternNet/images",)
    class_counts = dict.fromkeys(
        (
            "airplane",
            "baseball_field",
            "basketball_court",
            "beach",
            "bridge",
            "cemetery",
            "chaparral",
            "christmas_tree_farm",
            "closed_road",
            "coastal_mansion",
            "crosswalk",
            "dense_residential",
            "ferry_terminal",
            "football_field",
            "forest",
            "freeway",
            "golf_course",
            "harbor",
            "intersection",
            "mobile_home_park",
            "nursing_home",
            "oil_gas_field",
            "oil_well",
            "overpass",
            "parking_lot",
            "parking_space",
            "railway",
            "river",
            "runway",
            "runway_marking",
            "shipping_yard",
            "solar_panel",
            "sparse_residential",
            "storage_tank",
            "swimming_pool",
            "tennis_court",
            "transformer_station",
            "wastewater_treatment_plant",
        ),
        800,
    )
    native_size = 256
