import os
import tomllib
import unittest

from candor_train.band_sweep import REPO, manifest


class BandSweepManifestTest(unittest.TestCase):
    def setUp(self):
        self.base = open(os.path.join(REPO, "models/manifest.toml")).read()

    def test_sets_the_band_once_and_keeps_the_rest(self):
        m = tomllib.loads(manifest(self.base, 0.85, 0.4, 0.7))
        d = m["detector"]
        self.assertEqual((d["score_threshold"], d["confirm_threshold"], d["confirm_confidence"]), (0.85, 0.4, 0.7))
        self.assertEqual(m["recognizer"], tomllib.loads(self.base)["recognizer"])

    def test_no_band_removes_the_shipped_one(self):
        d = tomllib.loads(manifest(self.base, 0.8, None, None))["detector"]
        self.assertEqual(d["score_threshold"], 0.8)
        self.assertNotIn("confirm_threshold", d)
        self.assertNotIn("confirm_confidence", d)


if __name__ == "__main__":
    unittest.main()
