"""Native 5-point detectors run from ONNX files (YuNet through OpenCV, SCRFD and RetinaFace through onnxruntime).

Data only: importing this module imports neither OpenCV nor onnxruntime.
"""

from facevault.zoo.registry import Entry

ENTRIES = [
    Entry("yunet", "detector", "native", "facevault.faces.detect.onnx:YuNet",
          input="any size, BGR (cv2.FaceDetectorYN)", weights=("face_detection_yunet_2023mar.onnx",),
          description="OpenCV YuNet 2023mar: boxes + 5 landmarks, fast on a CPU (MIT); a face missed at "
                      "score 0.9 is retried at 2x size, then at score 0.5"),
    Entry("yunet-only", "detector", "native", "facevault.faces.detect.onnx:YuNet", {"fallback": False},
          input="any size, BGR (cv2.FaceDetectorYN)", weights=("face_detection_yunet_2023mar.onnx",),
          description="YuNet single pass at score 0.9, no fallback"),
    Entry("scrfd", "detector", "native", "facevault.faces.detect.onnx:Scrfd",
          input="1x3x640x640 RGB letterboxed, (x-127.5)/128", weights=("scrfd_2.5g_bnkps.onnx",),
          description="InsightFace SCRFD-2.5G with 5 keypoints (non-commercial research only)"),
    Entry("retinaface", "detector", "native", "facevault.faces.detect.onnx:RetinaFace",
          input="1x3x640x640 BGR letterboxed, minus (104,117,123)", weights=("retinaface_mnet025.onnx",),
          description="RetinaFace MobileNet-0.25 with 5 landmarks"),
]
