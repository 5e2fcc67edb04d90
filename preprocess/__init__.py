"""Dataset preparation: official layouts to annotation files, and face cropping for raw videos.

One command per dataset, `python -m preprocess.<dataset> --root <dataset root> --out saved/data/<dataset>`,
and `python -m preprocess.face_crop` for your own recordings.
"""
