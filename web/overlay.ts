// Class colours and the overlay the page draws: a frame with its class colours blended in at a chosen
// opacity. The colours and the blend are those of the training report (train/report.ts): class c has
// the PASCAL VOC palette's entry c + 1 (entry 0 is black), and a pixel is
// round((1 − α)·frame + α·colour); IGNORE pixels keep the frame's colour.
import { vocPalette, type Frame } from '../dataset/image.ts';
import { IGNORE } from '../dataset/labels.ts';

const PALETTE = vocPalette();

/** The overlay colour [r, g, b] of class `c`. */
export const classColour = (c: number): number[] => PALETTE[(c + 1) % 256]!;

/** The frame (with `labels` blended in at opacity `alpha` when given) as canvas pixels. */
export function overlayPixels(frame: Frame, labels: Int32Array | undefined, alpha: number): ImageData {
  const n = frame.width * frame.height;
  const out = new ImageData(frame.width, frame.height);
  const px = out.data;
  for (let i = 0; i < n; i++) {
    const c = labels?.[i];
    const col = c === undefined || c === IGNORE ? undefined : classColour(c);
    for (let k = 0; k < 3; k++) {
      const v = frame.rgb[i * 3 + k]!;
      px[i * 4 + k] = col ? Math.round((1 - alpha) * v + alpha * col[k]!) : v;
    }
    px[i * 4 + 3] = 255;
  }
  return out;
}
