"""NWPU-RESISC45: 45 scene classes of 256 px Google Earth images."""

from __future__ import annotations

from rsdml.data.datasets.base import KnownDataset


class NWPURESISC45(KnownDataset):
    """NWPU-RESISC45 (Cheng et al., Proc. IEEE 2017): 45 classes x 700, 256 px, JPEG."""

    name = "nwpu_resisc45"
    title = "NWPU-RESISC45"
    homepage = "https://doi.org/10.1109/JPROC.2017.2675998"
    citation = "Cheng, Han & Lu, Remote sensing image scene classification: benchmark and state of the art, Proc. IEEE 2017"
    # The official release is a RAR on OneDrive (no direct link); this is torchgeo's zip mirror of
    # it, with torchgeo's MD5 (not re-computed here). The zip unpacks to NWPU-RESISC45/<class>/.
    urls = (
        "https://hf.co/datasets/torchgeo/resisc45/resolve/"
        "a826b44d938a883185f11ebe3d512d38b464312f/NWPU-RESISC45.zip",
    )
    filename = "NWPU-RESISC45.zip"
    md5 = "75206b2e16446591afa88e2628744886"
    archive_size = "about 400 MB"
    subdirs = ("NWPU-RESISC45",)
    class_counts = dict.fromkeys(
        (
            "airplane",
            "airport",
            "baseball_diamond",
            "basketball_court",
            "beach",
            "bridge",
            "chaparral",
            "church",
            "circular_farmland",
            "cloud",
            "commercial_area",
            "dense_residential",
            "desert",
            "forest",
            "freeway",
            "golf_course",
            "ground_track_field",
            "harbor",
            "industrial_area",
            "intersection",
            "island",
            "lake",
            "meadow",
            "medium_residential",
            "mobile_home_park",
            "mountain",
            "overpass",
            "palace",
            "parking_lot",
            "railway",
            "railway_station",
            "rectangular_farmland",
            "river",
            "roundabout",
            "runway",
            "sea_ice",
            "ship",
            "snowberg",
            "sparse_residential",
            "stadium",
            "storage_tank",
            "tennis_court",
            "terrace",
            "thermal_power_station",
            "wetland",
        ),
        700,
    )
    native_size = 256
