import cv2
import numpy as np
import pytest

from dreamvid.errors import UserError
from dreamvid.io.images import Picture, inspect_image, read_image, write_image
from dreamvid.io.listing import list_images, natural_key


def test_natural_sort_puts_frame2_before_frame10(tmp_path):
    names = ["frame10.png", "frame2.png", "Frame3.PNG", "frame1.jpg", "frame002b.png"]
    for name in names + ["notes.txt", "frame4.mp4"]:
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "frame5.png").mkdir()  # folders are not frames
    assert [p.name for p in list_images(tmp_path)] == [
        "frame1.jpg", "frame2.png", "frame002b.png", "Frame3.PNG", "frame10.png"]
    assert sorted(["a10", "a9", "a100"], key=natural_key) == ["a9", "a10", "a100"]


def test_list_images_of_an_empty_folder_is_a_user_error(tmp_path):
    (tmp_path / "readme.txt").write_text("no frames here")
    with pytest.raises(UserError, match="no images in folder"):
        list_images(tmp_path)
    with pytest.raises(UserError, match="not a folder"):
        list_images(tmp_path / "readme.txt")


def test_inspect_image_reads_the_size(tmp_path):
    path = tmp_path / "wide.png"
    cv2.imwrite(str(path), np.zeros((12, 34, 3), np.uint8))
    info = inspect_image(path)
    assert (info.width, info.height) == (34, 12)


@pytest.mark.parametrize("content, message", [
    (None, "input not found"), (b"", "empty file"), (b"hello, I am text\n", "not a readable image"),
    (b"\x89PNG\r\n\x1a\n" + b"\0" * 20, "not a readable image")])
def test_inspect_image_rejects_bad_files(tmp_path, content, message):
    path = tmp_path / "photo.png"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(UserError, match=message):
        inspect_image(path)


def test_read_image_of_text_is_a_decode_error(tmp_path):
    """Mid-render, a frame that fails to decode stops its job (exit 1), it is not a validation error."""
    from dreamvid.io.images import ImageDecodeError

    path = tmp_path / "photo.png"
    path.write_text("not an image")
    with pytest.raises(ImageDecodeError, match="cannot decode"):
        read_image(path)


def _gradient(height, width, top):
    ramp = np.linspace(0, top, height * width * 3).reshape(height, width, 3)
    return np.rint(ramp).astype(np.uint16 if top > 255 else np.uint8)


def test_sixteen_bit_png_round_trips_exactly(tmp_path):
    data = _gradient(17, 23, 65535)  # values that are not multiples of 257: real 16-bit content
    cv2.imwrite(str(tmp_path / "in.png"), data)
    picture = read_image(tmp_path / "in.png")
    assert picture.dtype == np.uint16 and picture.alpha is None and picture.rgb.shape == (17, 23, 3)
    assert np.allclose(picture.rgb, data[..., ::-1] / 65535.0)  # BGR on disk, RGB in memory
    write_image(tmp_path / "out.png", picture)
    assert np.array_equal(cv2.imread(str(tmp_path / "out.png"), cv2.IMREAD_UNCHANGED), data)


def test_rgba_keeps_its_alpha(tmp_path):
    data = np.dstack([_gradient(10, 12, 255), np.tile(np.arange(12, dtype=np.uint8) * 20, (10, 1))])
    cv2.imwrite(str(tmp_path / "in.png"), data)
    picture = read_image(tmp_path / "in.png")
    assert picture.rgb.shape == (10, 12, 3) and picture.alpha.shape == (10, 12)
    assert np.allclose(picture.alpha, data[..., 3] / 255.0)
    write_image(tmp_path / "out.png", picture)
    assert np.array_equal(cv2.imread(str(tmp_path / "out.png"), cv2.IMREAD_UNCHANGED), data)


def test_grayscale_becomes_rgb(tmp_path):
    gray = np.tile(np.arange(0, 240, 20, dtype=np.uint8), (6, 1))
    cv2.imwrite(str(tmp_path / "gray.png"), gray)
    picture = read_image(tmp_path / "gray.png")
    assert picture.rgb.shape == (6, 12, 3) and picture.alpha is None
    for channel in range(3):
        assert np.allclose(picture.rgb[..., channel], gray / 255.0)


def test_gray_with_alpha_keeps_the_alpha(tmp_path):
    from PIL import Image

    data = np.dstack([np.full((5, 7), 100, np.uint8), np.full((5, 7), 30, np.uint8)])
    Image.fromarray(data, "LA").save(tmp_path / "la.png")
    picture = read_image(tmp_path / "la.png")
    assert picture.rgb.shape == (5, 7, 3) and np.allclose(picture.rgb, 100 / 255)
    assert picture.alpha is not None and np.allclose(picture.alpha, 30 / 255)


def test_jpeg_output_drops_alpha_and_sixteen_bits(tmp_path):
    picture = Picture(np.full((8, 8, 3), 0.5, np.float32), np.ones((8, 8), np.float32), np.dtype(np.uint16))
    write_image(tmp_path / "out.jpg", picture)
    data = cv2.imread(str(tmp_path / "out.jpg"), cv2.IMREAD_UNCHANGED)
    assert data.dtype == np.uint8 and data.shape == (8, 8, 3)
    assert abs(int(data.mean()) - 128) <= 2


def test_write_is_atomic_and_leaves_no_temporary(tmp_path):
    picture = Picture(np.random.default_rng(0).random((9, 9, 3)).astype(np.float32), None, np.dtype(np.uint8))
    write_image(tmp_path / "out.png", picture)
    assert [p.name for p in tmp_path.iterdir()] == ["out.png"]


def test_unwritable_output_is_a_user_error(tmp_path):
    picture = Picture(np.zeros((4, 4, 3), np.float32), None, np.dtype(np.uint8))
    (tmp_path / "file").write_text("a file, not a folder")
    with pytest.raises(UserError, match="cannot write"):
        write_image(tmp_path / "file" / "out.png", picture)
    assert [p.name for p in tmp_path.iterdir()] == ["file"]


def test_tiny_image_is_dreamed_at_its_own_size(inception_random):
    """20 x 20 is under InceptionV3's 75 px: it is dreamed upscaled and returned at 20 x 20, same type."""
    import dreamvid

    image = np.rint(np.random.default_rng(1).random((20, 20, 3)) * 255).astype(np.uint8)
    dreamed = dreamvid.dream(image, model="inception_v3", weights="random", layers=["mixed3"],
                             octaves=1, steps=2, jitter=4)
    assert dreamed.shape == image.shape and dreamed.dtype == np.uint8
    assert np.abs(dreamed.astype(int) - image).mean() > 1


def test_max_side_dreams_small_and_keeps_the_full_size(vgg_hed, natural):
    import dreamvid

    image = natural(120, 160, seed=3)
    dreamed = dreamvid.dream(image, model="vgg16-hed", layers=["block4_conv3"], octaves=1, steps=3,
                             step_size=0.02, jitter=4, max_side=64)
    assert dreamed.shape == image.shape and dreamed.dtype == np.float32
    change = dreamed - image
    assert np.abs(change).mean() > 2 / 255
    # only the (upscaled, so smooth) change is added: pixel-to-pixel detail of the change is small
    assert np.abs(np.diff(change, axis=1)).mean() < np.abs(change).mean()
