"""Checks of the training code's contracts (run from training/: python -m unittest discover tests)."""

import argparse
import csv
import importlib.util
import os
import tempfile
import unittest

import cv2
import numpy as np
import torch

from candor_train import detector as D
from candor_train import real_crops
from candor_train import recognizer as R
from candor_train import synth
from candor_train.common import average_onnx, fold_batchnorm, init_from_onnx, onnx_op_types, simplify_graph

ALLOWED_OPS = {"Conv", "Relu", "LeakyRelu", "Sigmoid", "MaxPool", "AveragePool", "Add", "Mul", "Concat",
               "Resize", "Reshape", "Transpose", "Flatten", "MatMul", "Gemm", "Softmax", "Constant"}


class SynthTest(unittest.TestCase):
    def test_labels_use_only_the_alphabet_and_match_layouts(self):
        rng = np.random.default_rng(5)
        for region in ("us", "eu", "br"):
            for _ in range(20):
                p = synth.render_flat(rng, region)
                self.assertTrue(p.text and all(c in synth.ALPHABET for c in p.text), p.text)
                self.assertEqual(p.image.dtype, np.uint8)
                if region == "br":
                    self.assertEqual(len(p.text), 7)

    def test_two_row_layout_puts_top_half_left(self):
        img = np.zeros((40, 60, 3), np.uint8)
        img[:20] = 255  # top half white, bottom half black
        x = synth.recogniser_input(img, 32, 128, True)
        self.assertEqual(x.shape, (32, 128))
        self.assertGreater(x[:, :64].mean(), 250)
        self.assertLess(x[:, 64:].mean(), 5)

    def test_serif_i_gets_bars_as_wide_as_half_its_height(self):
        font = synth.all_fonts()[0]

        def top_bar_width(alpha):  # ink extent of a few rows near the glyph's top
            cols = np.nonzero(alpha[3:6].max(0) > 128)[0]
            return cols.max() - cols.min()

        plain = np.array(synth._text_image("I", font, 96, (0, 0, 0)))[..., 3]
        serif = np.array(synth._text_image("I", font, 96, (0, 0, 0), serif_i=True))[..., 3]
        self.assertGreater(top_bar_width(serif), 1.5 * top_bar_width(plain))
        self.assertGreater(top_bar_width(serif), 0.4 * serif.shape[0])
        # in a word the I's cell widens to hold its bars
        word = synth._text_image("AIB", font, 96, (0, 0, 0), serif_i=True)
        self.assertGreater(word.width, synth._text_image("AIB", font, 96, (0, 0, 0)).width)

    def test_tight_framing_cuts_at_or_inside_the_plate(self):
        plate = np.full((100, 300, 3), 200, np.uint8)
        widths = {}
        for share in (0.0, 1.0):
            synth.TIGHT_SHARE, saved = share, synth.TIGHT_SHARE
            try:  # the same seeds give the same warp, so only the framing differs
                widths[share] = [synth.perspective_crop(plate, np.random.default_rng(s)).shape[1]
                                 for s in range(30)]
            finally:
                synth.TIGHT_SHARE = saved
        for loose, tight in zip(widths[0.0], widths[1.0]):
            # a loose margin is never negative; a tight one at most 2 % a side
            self.assertLessEqual(tight, loose * (1 + 2 * synth.TIGHT_MARGIN_X[1]) + 2)
        self.assertLess(np.mean(widths[1.0]), 0.95 * np.mean(widths[0.0]))


class GenOcrTest(unittest.TestCase):
    def test_crop_images_are_the_same_plates_as_the_training_layout(self):
        from candor_train import gen_ocr

        xs, labels, regions = gen_ocr.generate(3, seed=5, workers=1)
        folder = tempfile.mkdtemp()
        _, image_labels, image_regions = gen_ocr.generate(3, seed=5, workers=1, crops_dir=folder)
        self.assertEqual(labels, image_labels)
        self.assertEqual(regions, image_regions)
        self.assertTrue(all(r in ("us", "br") or r.startswith("eu-") for r in regions), regions)
        for i, text in enumerate(labels):
            crop = cv2.imread(os.path.join(folder, f"{i:06d}.png"))[..., ::-1]
            grey = np.clip(synth.recogniser_input(crop, gen_ocr.H, gen_ocr.W, False), 0, 255).astype(np.uint8)
            two_row = np.clip(synth.recogniser_input(crop, gen_ocr.H, gen_ocr.W, True), 0, 255).astype(np.uint8)
            self.assertTrue(np.array_equal(grey, xs[i]) or np.array_equal(two_row, xs[i]), text)

    def test_refuses_to_render_when_a_font_is_missing(self):
        from unittest import mock

        from candor_train import gen_ocr

        fonts = dict(synth.FONT_FILES, **{"fonts-gone": ["/nonexistent/Gone.ttf"]})
        argv = ["gen_ocr", "--out", os.path.join(tempfile.mkdtemp(), "x.npz"), "--count", "1"]
        with mock.patch.object(synth, "FONT_FILES", fonts), mock.patch("sys.argv", argv):
            with self.assertRaises(SystemExit) as refused:
                gen_ocr.main()
        self.assertIn("/nonexistent/Gone.ttf", str(refused.exception))
        self.assertIn("apt-get install fonts-gone", str(refused.exception))
        self.assertFalse(os.path.exists(argv[2]))
        self.assertEqual(synth.missing_fonts(), [])


class DetectorDecodeTest(unittest.TestCase):
    def test_in_graph_decode_matches_formula(self):
        m = D.Detector().eval()
        raw = torch.randn(1, 5, 48, 48)
        d = m.decode(raw)
        s = torch.sigmoid(raw)
        row, col = 7, 11
        self.assertAlmostEqual(float(d[0, 0, row, col]), float((2 * s[0, 0, row, col] - 0.5 + col) * 8), places=4)
        self.assertAlmostEqual(float(d[0, 1, row, col]), float((2 * s[0, 1, row, col] - 0.5 + row) * 8), places=4)
        self.assertAlmostEqual(float(d[0, 2, row, col]), float((2 * s[0, 2, row, col]) ** 2 * D.ANCHOR_W), places=3)
        self.assertAlmostEqual(float(d[0, 3, row, col]), float((2 * s[0, 3, row, col]) ** 2 * D.ANCHOR_H), places=3)
        self.assertAlmostEqual(float(d[0, 4, row, col]), float(s[0, 4, row, col]), places=5)
        d32 = m.decode(raw[:, :, :12, :12], large=True)
        self.assertAlmostEqual(float(d32[0, 0, 3, 5]), float((2 * s[0, 0, 3, 5] - 0.5 + 5) * 32), places=3)
        self.assertAlmostEqual(float(d32[0, 3, 3, 5]), float((2 * s[0, 3, 3, 5]) ** 2 * D.LARGE_ANCHOR_H), places=3)

    def test_targets_cover_centre_cell(self):
        bi, gj, gi, tb = D.build_targets([np.array([[100, 50, 140, 62]], np.float32)], 48)
        self.assertIn((int(120 // 8), int(56 // 8)), list(zip(gi.tolist(), gj.tolist())))

    @unittest.skipUnless(os.path.isdir(os.path.join(D.DATA_ROOT, "detect")), "needs the detection sets")
    def test_small_grid_canvases_hold_small_plates_inside_the_canvas(self):
        items = D.read_split("train")
        rng = np.random.default_rng(0)
        widths = []
        for _ in range(6):
            canvas, boxes = D.make_sample(items, rng, synth_prob=0.0, small_grid_prob=1.0)
            self.assertEqual(canvas.shape, (D.SIZE, D.SIZE, 3))
            self.assertTrue((boxes >= 0).all() and (boxes <= D.SIZE).all())
            widths += list(boxes[:, 2] - boxes[:, 0])
        self.assertGreater(len(widths), 20)
        self.assertLess(float(np.median(widths)), 40)


class ExportTest(unittest.TestCase):
    def _export(self, model, shape, names):
        model.eval()
        fold_batchnorm(model)
        path = os.path.join(tempfile.mkdtemp(), "m.onnx")
        torch.onnx.export(model, torch.zeros(*shape), path, input_names=[names[0]], output_names=[names[1]],
                          dynamic_axes={names[0]: {0: "N"}, names[1]: {0: "N"}}, opset_version=17, dynamo=False)
        simplify_graph(path)
        return path

    def test_graphs_use_plain_ops_and_dynamic_batch(self):
        import onnxruntime as ort

        for model, shape, names, out_shape in (
            (R.Recognizer(), (2, 1, 32, 128), ("crops", "logits"), (3, 32, 37)),
            (D.Detector(), (2, 3, 384, 384), ("images", "boxes"), (3, 2304 + 144, 5)),
        ):
            path = self._export(model, shape, names)
            self.assertTrue(set(onnx_op_types(path)) <= ALLOWED_OPS, onnx_op_types(path))
            sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
            x = np.random.rand(3, *shape[1:]).astype(np.float32)
            got = sess.run([names[1]], {names[0]: x})[0]
            self.assertEqual(got.shape, out_shape)
            with torch.no_grad():
                ref = model(torch.from_numpy(x)).numpy()
            self.assertLess(float(np.abs(ref - got).max()), 1e-3)

    def test_detector_canvas_size_sets_the_output_grid(self):
        import onnxruntime as ort

        D.set_size(448)
        try:  # the model and the letterbox follow the process's canvas size
            model = D.Detector()
            self.assertEqual(D.letterbox(np.zeros((720, 1280, 3), np.uint8))[0].shape, (448, 448, 3))
        finally:
            D.set_size(384)
        path = self._export(model, (2, 3, 448, 448), ("images", "boxes"))
        got = ort.InferenceSession(path, providers=["CPUExecutionProvider"]).run(
            ["boxes"], {"images": np.random.rand(1, 3, 448, 448).astype(np.float32)})[0]
        self.assertEqual(got.shape, (1, 56 * 56 + 14 * 14, 5))
        with self.assertRaises(ValueError):
            D.set_size(450)  # not a multiple of the coarse head's stride

    def test_average_of_exports_is_the_weighted_mean_of_their_weights(self):
        import onnx
        import onnxruntime as ort
        from onnx import numpy_helper

        torch.manual_seed(0)
        shape, names = (2, 1, 32, 128), ("crops", "logits")
        a, b = (self._export(R.Recognizer(), shape, names) for _ in range(2))
        out = os.path.join(tempfile.mkdtemp(), "avg.onnx")
        average_onnx([a, b], out, [0.25, 0.75])
        weights = [{i.name: numpy_helper.to_array(i) for i in onnx.load(p).graph.initializer} for p in (a, b, out)]
        convs = [k for k, v in weights[0].items() if v.dtype.kind == "f"]
        self.assertTrue(any(not np.allclose(weights[0][k], weights[1][k]) for k in convs))  # the runs differ
        for k in convs:
            np.testing.assert_allclose(weights[2][k], 0.25 * weights[0][k] + 0.75 * weights[1][k], rtol=1e-5, atol=1e-6)
        got = ort.InferenceSession(out, providers=["CPUExecutionProvider"]).run(
            ["logits"], {"crops": np.zeros((1, 1, 32, 128), np.float32)})[0]
        self.assertEqual(got.shape, (1, 32, 37))
        other = self._export(D.Detector(), (2, 3, 384, 384), ("images", "boxes"))
        with self.assertRaisesRegex(ValueError, "another graph"):
            average_onnx([a, other], out)
        with self.assertRaisesRegex(ValueError, "summing to 1"):
            average_onnx([a, b], out, [0.5, 0.6])

    def test_shipped_graph_loads_back_for_further_training(self):
        torch.manual_seed(0)
        for make, shape, names in (
            (R.Recognizer, (2, 1, 32, 128), ("crops", "logits")),
            (D.Detector, (2, 3, 384, 384), ("images", "boxes")),
        ):
            trained = make()
            for m in trained.modules():  # BatchNorms that are far from the identity
                if isinstance(m, torch.nn.BatchNorm2d):
                    m.weight.data.uniform_(0.5, 2.0)
                    m.bias.data.uniform_(-0.5, 0.5)
                    m.running_mean.uniform_(-0.2, 0.2)
                    m.running_var.uniform_(0.5, 2.0)
            path = self._export(trained, shape, names)
            calibration = torch.rand(8, *shape[1:])
            restored = make()
            init_from_onnx(restored, path, calibration)
            restored.eval()
            with torch.no_grad():
                want = trained(calibration)
                self.assertLess(float((restored(calibration) - want).abs().max()), 1e-3)
                # in train mode BatchNorm uses the batch's statistics: the calibration batch's
                # give the same function, so training starts where the shipped model stands
                restored.train()
                for m in restored.modules():
                    if isinstance(m, torch.nn.Dropout):
                        m.p = 0.0
                got = restored(calibration)
                self.assertLess(float((got - want).abs().max() / want.abs().max()), 1e-2)


def run_args(data, ckpt, **kw):
    """`recognizer train`'s arguments for a tiny run of the scratch network on `data`."""
    args = dict(data=[data], weights=None, val=[data], ckpt=ckpt, init=None, init_onnx=None, arch="conv",
                weight_decay=1e-4, freeze_convs=0, warmup=1, minutes=0.01, steps=None, eval_steps=None,
                batch=8, lr=1e-3, seed=1, threads=1, device="cpu", eval_every=1e9, bf16=False)
    args.update(kw)
    return argparse.Namespace(**args)


class TrainingRunTest(unittest.TestCase):
    def test_recogniser_run_trains_then_resumes_with_its_optimiser(self):
        from candor_train import gen_ocr

        x, y, _ = gen_ocr.generate(24, seed=3, workers=1)
        with tempfile.TemporaryDirectory() as tmp:
            data = os.path.join(tmp, "d.npz")
            np.savez_compressed(data, x=x, y=np.array(y))
            ckpt = os.path.join(tmp, "r.pt")
            args = run_args(data, ckpt, minutes=0.01)
            R.train(args)
            first = torch.load(ckpt, weights_only=False)
            self.assertGreater(first["step"], 0)
            self.assertTrue(first["opt"]["state"], "the optimiser's moments are saved")
            args.minutes = first["elapsed"] / 60 + 0.01  # the budget counts the first run's time
            R.train(args)
            second = torch.load(ckpt, weights_only=False)
            self.assertGreater(second["step"], first["step"])
            # AdamW counts its own steps: they run on from the first run's only if its state was loaded
            self.assertEqual(int(second["opt"]["state"][0]["step"]), second["step"])

    def test_a_step_budget_runs_exactly_its_steps_and_validates_at_the_end(self):
        from candor_train import gen_ocr

        x, y, _ = gen_ocr.generate(24, seed=3, workers=1)
        with tempfile.TemporaryDirectory() as tmp:
            data = os.path.join(tmp, "d.npz")
            np.savez_compressed(data, x=x, y=np.array(y))
            ckpt = os.path.join(tmp, "r.pt")
            # a time budget of zero would end a timed run before its first step
            R.train(run_args(data, ckpt, minutes=0.0, steps=3, eval_steps=2))
            state = torch.load(ckpt, weights_only=False)
            self.assertEqual(state["step"], 3)
            self.assertTrue(os.path.exists(ckpt + ".best"), "validated at least once")

    def test_device_choice_never_falls_back_silently(self):
        from candor_train.common import pick_device

        self.assertEqual(pick_device("cpu").type, "cpu")
        self.assertEqual(pick_device("auto").type, "cuda" if torch.cuda.is_available() else "cpu")
        with self.assertRaisesRegex(SystemExit, "expected auto, cpu or cuda"):
            pick_device("tpu")
        if not torch.cuda.is_available():
            with self.assertRaisesRegex(SystemExit, "sees no CUDA GPU"):
                pick_device("cuda")


class CtcDecodeTest(unittest.TestCase):
    def test_greedy_decode_collapses_repeats_and_blanks(self):
        seq = [0, 1, 1, 0, 1, 11, 11, 0]  # "0", "0", "A"
        logits = np.full((1, len(seq), 37), -10.0, np.float32)
        for t, k in enumerate(seq):
            logits[0, t, k] = 10.0
        self.assertEqual(R.greedy_decode(logits), ["00A"])


class RealCropsTest(unittest.TestCase):
    def test_label_files_name_images_relative_to_the_data_folder(self):
        with tempfile.TemporaryDirectory() as tmp:
            data = os.path.join(tmp, "data")
            images = os.path.join(data, "detect", "s", "train", "images")
            os.makedirs(images)
            image = os.path.join(images, "car.png")
            cv2.imwrite(image, np.full((100, 200, 3), 128, np.uint8))
            saved = D.DATA_ROOT
            D.DATA_ROOT = data
            try:
                row = real_crops._row(image, 0, (40.0, 30.0, 160.0, 70.0), "ABC123", 0)
                self.assertEqual(row["image"], "detect/s/train/images/car.png")
                labels = os.path.join(tmp, "labels.csv")
                with open(labels, "w", newline="") as f:
                    w = csv.DictWriter(f, fieldnames=list(row))
                    w.writeheader()
                    w.writerow(row)
                out = os.path.join(tmp, "packed.npz")
                real_crops.pack(argparse.Namespace(csv=labels, out=out, copies=2, hand=None, seed=1, split="train"))
            finally:
                D.DATA_ROOT = saved
            packed = np.load(out)
            self.assertEqual(list(packed["y"]), ["ABC123", "ABC123"])
            self.assertEqual(packed["x"].shape, (2, real_crops.H, real_crops.W))

    def test_crop_margins_frame_outside_on_or_inside_the_box(self):
        img = np.zeros((100, 200, 3), np.uint8)
        box = (50.0, 20.0, 150.0, 60.0)  # 100 x 40
        self.assertEqual(real_crops._crop(img, box, (0, 0), (0, 0)).shape[:2], (40, 100))
        self.assertEqual(real_crops._crop(img, box, (0.1, 0.1), (0.25, 0.25)).shape[:2], (60, 120))
        self.assertEqual(real_crops._crop(img, box, (-0.1, -0.1), (-0.25, -0.25)).shape[:2], (20, 80))
        # a margin past the image's edge stops at the edge
        self.assertEqual(real_crops._crop(img, box, (1.0, 1.0), (1.0, 1.0)).shape[:2], (100, 200))

    def test_committed_label_files_are_keyed_like_the_hand_file(self):
        here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        hand = real_crops.read_hand(os.path.join(here, "hand_labels.csv"))
        for split in ("train", "valid", "test"):
            rows = list(csv.DictReader(open(os.path.join(here, f"teacher_labels_{split}.csv"))))
            for r in rows:
                self.assertTrue(r["image"].startswith("detect/") and f"/{split}/images/" in r["image"], r["image"])
            # the hand file fixes or drops some of each split's teacher labels by these keys
            self.assertTrue({real_crops.row_key(r) for r in rows} & set(hand), split)


if __name__ == "__main__":
    unittest.main()


SHIPPED_RECOGNIZER = os.path.join(os.path.dirname(__file__), "..", "..", "models", "plate_recognizer.onnx")


@unittest.skipUnless(importlib.util.find_spec("rapidocr_onnxruntime"), "needs rapidocr-onnxruntime==1.4.4")
class PPOCRTest(unittest.TestCase):
    """The shipped PP-OCRv4 fine-tune: it loads back into the trainable module, and fusing its
    activations keeps its function."""

    def _ort(self, path, x):
        import onnxruntime as ort

        return ort.InferenceSession(path, providers=["CPUExecutionProvider"]).run(None, {"crops": x})[0]

    def test_shipped_recogniser_loads_back_into_the_trainable_module(self):
        from candor_train.ppocr import PPOCRRecognizer

        model = PPOCRRecognizer()
        model.load_exported(SHIPPED_RECOGNIZER)
        model.eval()
        x = np.random.default_rng(0).uniform(-1, 1, (2, 3, 48, 192)).astype(np.float32)
        with torch.no_grad():
            got = model(torch.from_numpy(x)).numpy()
        self.assertLess(float(np.abs(got - self._ort(SHIPPED_RECOGNIZER, x)).max()), 1e-3)

    def test_fusing_hard_swish_keeps_the_function(self):
        from candor_train.ppocr import fuse_activations

        with tempfile.TemporaryDirectory() as d:
            out = os.path.join(d, "fused.onnx")
            self.assertGreater(fuse_activations(SHIPPED_RECOGNIZER, out), 0)
            self.assertIn("HardSwish", onnx_op_types(out))
            x = np.random.default_rng(1).uniform(-1, 1, (2, 3, 48, 192)).astype(np.float32)
            diff = np.abs(self._ort(out, x) - self._ort(SHIPPED_RECOGNIZER, x)).max()
            self.assertLess(float(diff), 1e-3)
