"""Aligner entries: the alignments a space can name (`Space.aligner`). Data only.

An aligner is built with the recognizer's input size and kind (`build(input_size=..., input_kind=...,
weights_dir=...)`); `weights` lists the landmark models it may need for faces whose detector gives no usable
points.
"""

from facevault.zoo.registry import Entry

ENTRIES = [
    Entry("dlib-chip", "aligner", "native", "facevault.faces.align.dlib_chip:DlibChipAligner",
          input="150x150 RGB", weights=("shape_predictor_5_face_landmarks.dat",),
          description="dlib get_face_chip on 5 dlib points, padding 0.25 (the detector's, else dlib's predictor)"),
    Entry("arcface", "aligner", "native", "facevault.faces.align.arcface:ArcfaceAligner",
          input="112x112 (the recognizer's size)", weights=("shape_predictor_68_face_landmarks.dat",),
          description="similarity transform of 5 ArcFace-order points onto the ArcFace template "
                      "(the detector's, else dlib's 68 points reduced to five)"),
    Entry("deepface", "aligner", "deepface", "facevault.faces.align.deepface:DeepfaceAligner",
          input="the recognizer's size", weights=("shape_predictor_68_face_landmarks.dat",),
          description="deepface's eye-rotation crop, resized and padded as DeepFace.represent does"),
]
