"""Video quality diagnosis (视频质量诊断, VQD) of camera snapshots with OpenCV.

    diagnose(image, previous=None, reference=None) -> Diagnosis        one picture (diagnose.py)
    diagnose_files(paths, references) / diagnose_folder(folder)       many files, as an Arrow table (batch.py)
    ReferenceStore(folder)                                            reference frames, renewed on a confirmed change
    evaluate(folders) -> AccuracyReport                               accuracy on simulator snapshots (accuracy.py)

Thresholds: config/video_quality.yaml (thresholds.py).
"""
