"""EuroSAT (RGB): 10 land-cover classes of 64 px Sentinel-2 patches."""

from __future__ import annotations

from rsdml.data.datasets.base import KnownDataset


class EuroSAT(KnownDataset):
    """EuroSAT RGB (Helber et al., JSTARS 2019): 10 classes, 2,000-3,000 each (27,000), 64 px, JPEG."""

    name = "eurosat"
    title = "EuroSAT (RGB)"
    homepage = "https://github.com/phelber/EuroSAT"
    citation = "Helber et al., EuroSAT: a novel dataset and deep learning benchmark for land use and land cover classification, JSTARS 2019"
    # Official DFKI host, then torchgeo's mirror; torchvision and torchgeo give this MD5 for both.
    # The archive unpacks to "2750/<class>/"; the newer Zenodo release (record 7711810,
    # EuroSAT_RGB.zip) unpacks to "EuroSAT_RGB/<class>/" and is accepted when present.
    urls = (
        "https://madm.dfki.de/files/sentinel/EuroSAT.zip",
        "https://huggingface.co/datasets/torchgeo/eurosat/resolve/"
        "c877bcd43f099cd0196738f714544e355477f3fd/EuroSAT.zip",
    )
    filename = "EuroSAT.zip"
    md5 = "c8fa014336c82ac7804f0398fcb19387"
    archive_size = "about 90 MB"
    subdirs = ("2750", "EuroSAT_RGB")
    class_counts = {
        "AnnualCrop": 3000,
        "Forest": 3000,
        "HerbaceousVegetation": 3000,
        "Highway": 2500,
        "Industrial": 2500,
        "Pasture": 2000,
        "PermanentCrop": 2500,
        "Residential": 3000,
        "River": 2500,
        "SeaLake": 3000,
    }
    native_size = 64
