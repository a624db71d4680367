"""Video quality diagnosis (视频质量诊断, VQD) of camera snapshots with OpenCV.

    diagnose(image, previous=None, reference=None, baseline=None)    one picture (diagnose.py)
    diagnose_files(paths, references, index=, baselines=)             many files (batch.py); camera and time from a
                                                                      sidecar index (snapshots.read_index) or names
    diagnose_landing(catalog, landing) -> BatchReport                 the landing's new snapshots, committed with the
                                                                      cameras' baselines (landing_batch.py, report.py)
    BaselineBook / CameraBaseline                                     each camera's normal (baseline.py), kept in
                                                                      silver.camera_baseline (baseline_store.py)
    ReferenceStore(folder)                                            reference frames, renewed on a confirmed change
    evaluate(folders) / evaluate_labelled(folder) -> AccuracyReport   accuracy on simulator snapshots or on a labelled
                                                                      set with labels.csv (accuracy.py)

Thresholds: config/video_quality.yaml (thresholds.py).
"""
