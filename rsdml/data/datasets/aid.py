"""AID, the Aerial Image Dataset: 30 scene classes of 600 px Google Earth images."""

from __future__ import annotations

from rsdml.data.datasets.base import KnownDataset


class AID(KnownDataset):
    """AID (Xia et al., TGRS 2017): 30 classes, 220-420 images each (10,000), 600 px, JPEG."""

    name = "aid"
    title = "AID (Aerial Image Dataset)"
    homepage = "https://captain-whu.github.io/AID/"
    citation = "Xia et al., AID: a benchmark data set for performance evaluation of aerial scene classification, TGRS 2017"
    # The authors publish AID only through Baidu Pan / OneDrive share pages (no direct link and no
    # checksum), so it cannot be fetched automatically. The archive name and its top folder "AID/"
    # (the layout the RNSL/SNCA-CE code reads: <data>/AID/<Class>/*.jpg) are UNVERIFIED here.
    urls = ()
    filename = "AID.zip"
    subdirs = ("AID",)
    # Per-class counts as listed by third-party metadata (they sum to the official 10,000).
    class_counts = {
        "Airport": 360,
        "BareLand": 310,
        "BaseballField": 220,
        "Beach": 400,
        "Bridge": 360,
        "Center": 260,
        "Church": 240,
        "Commercial": 350,
        "DenseResidential": 410,
        "Desert": 300,
        "Farmland": 370,
        "Forest": 250,
        "Industrial": 390,
        "Meadow": 280,
        "MediumResidential": 290,
        "Mountain": 340,
        "Park": 350,
        "Parking": 390,
        "Playground": 370,
        "Pond": 420,
        "Port": 380,
        "RailwayStation": 260,
        "Resort": 290,
        "River": 410,
        "School": 300,
        "SparseResidential": 300,
        "Square": 330,
        "Stadium": 290,
        "StorageTanks": 360,
        "Viaduct": 420,
    }
    native_size = 600
