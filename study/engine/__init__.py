"""The study engine: the study file (spec), typed trial requests, the phases and BO schedulers
(pure, testable without Ray), the results schema and store, the driver lock, status. Every Ray
import lives in ``study.engine.tune``."""
