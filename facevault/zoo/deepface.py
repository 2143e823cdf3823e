"""deepface 0.0.103 entries: every detector backend and recognition model, through deepface's own API.

Data only: importing this module imports neither deepface nor any framework. File names and shapes are
read from deepface 0.0.103's source (models/facial_recognition/*, models/face_detection/*); `weights` lists
the files of deepface's default engine here (onnx), `RECOGNIZER_FILES` those of every engine.
"""

from facevault.zoo.registry import Entry

TARGET_DETECTOR = "facevault.faces.detect.deepface:DeepfaceDetector"
TARGET_RECOGNIZER = "facevault.faces.embed.deepface:DeepfaceRecognizer"
ANY_ENGINE = "any"  # a model deepface runs the same way on every engine (opencv, dlib or onnxruntime)

# name: (dim, deepface's input_shape (width, height) as `resize_image` is called with it reversed, description)
RECOGNIZERS = {
    "VGG-Face": (4096, (224, 224), "VGG-Face (Oxford VGG), deepface's default model; deepface L2-normalises it"),
    "Facenet": (128, (160, 160), "FaceNet 128-d (Inception-ResNet, David Sandberg's weights)"),
    "Facenet512": (512, (160, 160), "FaceNet 512-d (Inception-ResNet, VGGFace2)"),
    "OpenFace": (128, (96, 96), "OpenFace nn4.small2 (CMU)"),
    "DeepFace": (4096, (152, 152), "Facebook DeepFace re-trained on VGGFace2 (swghosh)"),
    "DeepID": (160, (47, 55), "DeepID (Sun et al.)"),
    "ArcFace": (512, (112, 112), "ArcFace ResNet-34 (deepface's port)"),
    "SFace": (128, (112, 112), "SFace (OpenCV zoo, 2021dec)"),
    "Dlib": (128, (150, 150), "dlib ResNet 128-d fed deepface's rotation-aligned crop"),
    "GhostFaceNet": (512, (112, 112), "GhostFaceNet W1.3 S1 ArcFace loss"),
    "Buffalo_L": (512, (112, 112), "insightface buffalo_l recognizer (w600k ResNet-50); needs `insightface`"),
}

# models trained on ArcFace-template crops: they also accept facevault's "arcface" aligner
ARCFACE_FAMILY = ("ArcFace", "SFace", "GhostFaceNet", "Buffalo_L")


def _per_engine(stem: str) -> dict[str, tuple[str, ...]]:
    return {"onnx": (f"{stem}.onnx",), "tensorflow": (f"{stem}.h5",), "pytorch": (f"{stem}.pth",)}


# model: engine: files under $DEEPFACE_HOME/.deepface/weights (the first one is the model's own weights)
RECOGNIZER_FILES: dict[str, dict[str, tuple[str, ...]]] = {
    "VGG-Face": _per_engine("vgg_face_weights"),
    "Facenet": _per_engine("facenet_weights"),
    "Facenet512": _per_engine("facenet512_weights"),
    "OpenFace": _per_engine("openface_weights"),
    "DeepFace": _per_engine("VGGFace2_DeepFace_weights_val-0.9034"),
    "DeepID": {**_per_engine("deepid_weights"), "tensorflow": ("deepid_keras_weights.h5",)},
    "ArcFace": _per_engine("arcface_weights"),
    "SFace": {ANY_ENGINE: ("face_recognition_sface_2021dec.onnx",)},
    "Dlib": {ANY_ENGINE: ("dlib_face_recognition_resnet_model_v1.dat",)},
    "GhostFaceNet": _per_engine("ghostfacenet_v1"),
    "Buffalo_L": {ANY_ENGINE: ("buffalo_l/webface_r50.onnx",)},
}

# backend: (files under $DEEPFACE_HOME/.deepface/weights, description); the order of deepface's
# AVAILABLE_MODELS["face_detector"], then "skip"
DETECTORS: dict[str, tuple[tuple[str, ...], str]] = {
    "opencv": (("haarcascade_frontalface_default.xml", "haarcascade_eye.xml"),
               "OpenCV Haar cascades (shipped with opencv < 5); eyes from the eye cascade"),
    "mtcnn": ((), "MTCNN (the `mtcnn` package, imports TensorFlow)"),
    "ssd": (("deploy.prototxt", "res10_300x300_ssd_iter_140000.caffemodel"),
            "OpenCV res10 SSD; no landmarks (deepface finds eyes with the eye cascade)"),
    "dlib": (("shape_predictor_5_face_landmarks.dat",), "dlib HOG + 5-point shape predictor eyes"),
    "retinaface": (("retinaface.onnx",), "RetinaFace ResNet-50 (the `retina-face` package); 5 points"),
    "mediapipe": ((), "MediaPipe BlazeFace (the `mediapipe` package)"),
    "yolov8n": (("yolov8n-face.pt",), "YOLOv8n-face (`ultralytics`)"),
    "yolov8m": (("yolov8m-face.pt",), "YOLOv8m-face (`ultralytics`)"),
    "yolov8l": (("yolov8l-face.pt",), "YOLOv8l-face (`ultralytics`)"),
    "yolov11n": (("yolov11n-face.pt",), "YOLOv11n-face (`ultralytics`), no eyes"),
    "yolov11s": (("yolov11s-face.pt",), "YOLOv11s-face (`ultralytics`), no eyes"),
    "yolov11m": (("yolov11m-face.pt",), "YOLOv11m-face (`ultralytics`), no eyes"),
    "yolov11l": (("yolov11l-face.pt",), "YOLOv11l-face (`ultralytics`), no eyes"),
    "yolov12n": (("yolov12n-face.pt",), "YOLOv12n-face (`ultralytics`), no eyes"),
    "yolov12s": (("yolov12s-face.pt",), "YOLOv12s-face (`ultralytics`), no eyes"),
    "yolov12m": (("yolov12m-face.pt",), "YOLOv12m-face (`ultralytics`), no eyes"),
    "yolov12l": (("yolov12l-face.pt",), "YOLOv12l-face (`ultralytics`), no eyes"),
    "yunet": (("face_detection_yunet_2023mar.onnx",), "OpenCV YuNet 2023mar through deepface (eyes only)"),
    "fastmtcnn": ((), "MTCNN of `facenet-pytorch`"),
    "centerface": (("centerface.onnx",), "CenterFace ONNX"),
    "skip": ((), "no detection: the whole image is the face (for pre-aligned crops)"),
}


# detectors whose files depend on the engine (the others: DETECTORS' files on every engine)
DETECTOR_FILES: dict[str, dict[str, tuple[str, ...]]] = {
    "retinaface": _per_engine("retinaface"),
}


def files_for(table: dict[str, tuple[str, ...]], engine: str) -> tuple[str, ...]:
    """The files of one model on `engine` (or on every engine)."""
    return table.get(engine, table.get(ANY_ENGINE, ()))


def detector_files(backend: str, engine: str) -> tuple[str, ...]:
    return files_for(DETECTOR_FILES.get(backend, {ANY_ENGINE: DETECTORS[backend][0]}), engine)


def _recognizer(name: str) -> Entry:
    dim, (width, height), description = RECOGNIZERS[name]
    aligners = ("deepface", "arcface") if name in ARCFACE_FAMILY else ("deepface",)
    files = RECOGNIZER_FILES[name]
    return Entry(name, "recognizer", "deepface", TARGET_RECOGNIZER, {"model_name": name}, dim=dim,
                 aligner="deepface", aligners=aligners, input=f"{height}x{width}x3",
                 weights=files_for(files, "onnx"), description=description)


def _detector(backend: str) -> Entry:
    files, description = DETECTORS[backend]
    return Entry(f"deepface-{backend}", "detector", "deepface", TARGET_DETECTOR, {"backend": backend},
                 weights=files, description=f"deepface {backend}: {description}")


ENTRIES = [_detector(b) for b in DETECTORS] + [_recognizer(n) for n in RECOGNIZERS]
