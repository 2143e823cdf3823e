"""Native entries: dlib detectors and the dlib ResNet (weights from the face-recognition-models package)."""

from facevault.zoo.registry import Entry

ENTRIES = [
    Entry("dlib-hog", "detector", "native", "facevault.faces.detect.dlib:DlibHog",
          weights=("mmod_human_face_detector.dat",),
          description="dlib HOG, falling back to 2x upsampling then the MMOD CNN"),
    Entry("dlib-hog-only", "detector", "native", "facevault.faces.detect.dlib:DlibHog", {"fallback": False},
          description="dlib HOG with one upsampling, no fallback"),
    Entry("dlib-cnn", "detector", "native", "facevault.faces.detect.dlib:DlibCnn",
          weights=("mmod_human_face_detector.dat",), description="dlib MMOD CNN"),
    Entry("dlib", "recognizer", "native", "facevault.faces.embed.dlib:DlibResNet", dim=128, aligner="dlib-chip",
          aligners=("dlib-chip",), input="150x150 RGB chip",
          weights=("dlib_face_recognition_resnet_model_v1.dat", "shape_predictor_5_face_landmarks.dat"),
          description="dlib ResNet 128-d, 5-point chip 150 px, padding 0.25"),
    Entry("dlib+flip", "recognizer", "native", "facevault.faces.embed.dlib:DlibResNet", {"flip": True}, dim=128,
          aligner="dlib-chip", aligners=("dlib-chip",), input="150x150 RGB chip",
          weights=("dlib_face_recognition_resnet_model_v1.dat", "shape_predictor_5_face_landmarks.dat"),
          description="dlib ResNet, mean of the chip's and its mirror's vectors (2x cost)"),
]
