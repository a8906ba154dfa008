/**
 * A third synthetic world, seen from above: a drone films countryside. Issue 17's second data set: the
 * semi-supervised preset chosen on the embedded set (dataset/synth.ts: street scenes seen from the side)
 * must gain here too, on classes and a viewpoint its starting weights never saw. Unlike the shapes world
 * (dataset/shapes.ts: small outlines on one background), most pixels belong to large regions told apart
 * by texture, as in VSPW.
 *
 * The world, in world pixels (scaled with the frame height):
 *   - land: a patchwork of parcels (a jittered-grid Voronoi diagram), each a field (crop rows at the
 *     parcel's own angle, two tones), a meadow (grainy, blotchy) or a forest (a canopy of round, shaded
 *     crowns); hedges between parcels are VSPW's "others";
 *   - a meandering river (animated ripples, glints) and a gently curving road (asphalt, dashed centre
 *     line, a bridge where it crosses the river);
 *   - houses along the road (a roof with a ridge: one slope lit, one shaded; a shadow on the ground),
 *     cars driving along the road on the right, boats sailing along the river with a wake;
 *   - drifting cloud shadows over everything.
 * The camera flies at a per-video heading and speed, turns slowly and climbs or descends (zoom).
 *
 * Why it is not easy: every video draws its own colours (crops green, yellow or brown; water blue, green
 * or muddy; roofs terracotta, grey, dark or painted; cars and boats from one per-video paint palette);
 * field, meadow and forest differ by texture; cars and boats are 5–12 px long; lighting, sensor noise
 * and blur are the street world's (develop()); frames are JPEG (quality 90).
 *
 * Classes (masks in VSPW's values, dataset.json `labels: "vspw"`: class k is k + 1; 0 "others" = the
 * hedges; 255 unused): field, meadow, forest, water, road, roof, car, boat. Video v has a road unless
 * v mod 3 = 2, a river unless v mod 3 = 0 (either may also appear by chance), so any 3 consecutive
 * videos hold every class. Defaults: the embedded set's shape (40 videos of 24–32 frames, the last 10
 * val, and 1000 short training videos of 4–6 frames) at 128×96. Same options → byte-identical files.
 * Pure (no file access): synth-write.ts writes it.
 */
import type { Frame } from './image.ts';
import { makeRng, mixSeed, type Rng } from './rng.ts';
import {
  checkSize, checkSplit, clamp01, develop, EXTRA_FRAMES, frameRange, hash, hsv, mix, scale, splitFiles, textFile, videoFiles, videoName, vnoise, type RGB,
  type SynthFile,
} from './synth.ts';

export const AERIAL_CLASSES = ['field', 'meadow', 'forest', 'water', 'road', 'roof', 'car', 'boat'];
const FIELD = 0, MEADOW = 1, FOREST = 2, WATER = 3, ROAD = 4, ROOF = 5, CAR = 6, BOAT = 7;
/** VSPW's "others": the hedges between parcels. */
const OTHERS = -1;

export interface AerialOptions {
  seed: number;
  /** Long videos (the last valVideos of them are val), then extraVideos short training videos. */
  videos: number;
  valVideos: number;
  frames: number | [number, number];
  extraVideos: number;
  extraFrames: number | [number, number];
  width: number;
  height: number;
}

export const AERIAL_DEFAULTS: AerialOptions = {
  seed: 0, videos: 40, valVideos: 10, frames: [24, 32], extraVideos: 1000, extraFrames: EXTRA_FRAMES, width: 128, height: 96,
};

/** A line that meanders: centre offset A·sin(f·u + p) across direction (dx, dy), through (ox, oy). */
interface Course {
  ox: number;
  oy: number;
  dx: number;
  dy: number;
  amp: number;
  freq: number;
  phase: number;
  half: number;
}

/** Along-course coordinate u and signed distance from the centre line of world point (x, y). */
function onCourse(c: Course, x: number, y: number): { u: number; n: number } {
  const rx = x - c.ox, ry = y - c.oy;
  const u = rx * c.dx + ry * c.dy;
  return { u, n: -rx * c.dy + ry * c.dx - c.amp * Math.sin(c.freq * u + c.phase) };
}

/** World position and unit heading of the point at u on the course, `side` px right of the centre line. */
function courseAt(c: Course, u: number, side: number): { x: number; y: number; hx: number; hy: number } {
  const off = c.amp * Math.sin(c.freq * u + c.phase) + side;
  const slope = c.amp * c.freq * Math.cos(c.freq * u + c.phase);
  const hx0 = c.dx - slope * c.dy, hy0 = c.dy + slope * c.dx, k = 1 / Math.hypot(hx0, hy0);
  return { x: c.ox + u * c.dx - off * c.dy, y: c.oy + u * c.dy + off * c.dx, hx: hx0 * k, hy: hy0 * k };
}

/** A car or a boat: a box of half length a and half width b about its centre, heading along its course. */
interface Mover {
  course: Course;
  u0: number;
  speed: number;
  side: number;
  a: number;
  b: number;
  colour: RGB;
  trim: RGB;
}

interface House {
  x: number;
  y: number;
  hx: number;
  hy: number;
  a: number;
  b: number;
  colour: RGB;
}

/** World point (x, y) in the frame of an object at (cx, cy) heading (hx, hy): [along the heading, across it]. */
const local = (x: number, y: number, cx: number, cy: number, hx: number, hy: number): [number, number] => {
  const dx = x - cx, dy = y - cy;
  return [dx * hx + dy * hy, -dx * hy + dy * hx];
};

function makeCourse(rng: Rng, cx: number, cy: number, S: number, half: [number, number], amp: [number, number], angle = rng.range(0, Math.PI)): Course {
  return {
    ox: cx + rng.range(-0.25, 0.25) * 96 * S, oy: cy + rng.range(-0.25, 0.25) * 96 * S,
    dx: Math.cos(angle), dy: Math.sin(angle),
    amp: rng.range(amp[0], amp[1]) * S, freq: rng.range(0.01, 0.03) / S, phase: rng.range(0, 6.28),
    half: rng.range(half[0], half[1]) * S,
  };
}

/** Renders video `index` of the set made with `seed`: frames (RGB) and masks in VSPW's values. */
export function aerialVideo(seed: number, index: number, length: number, W: number, H: number): { name: string; frames: Frame[]; masks: Uint8Array[] } {
  const rng = makeRng(mixSeed(seed, index, 21));
  const vseed = mixSeed(seed, index, 22);
  const S = H / 96;
  const paints = Array.from({ length: 6 }, () => hsv(rng.float(), rng.range(0.3, 1), rng.range(0.35, 1)));

  // Camera: heading, speed, turn and climb; pixel → world is rotate(θ)·(pixel − centre)/zoom + position.
  const heading = rng.range(0, 6.28), speed = rng.range(0.4, 2) * S;
  const theta0 = rng.range(0, 6.28), turn = rng.range(-0.012, 0.012);
  const zoom0 = rng.range(0.8, 1.3), climb = rng.range(-0.008, 0.008);
  const cam = (t: number) => ({ x: Math.cos(heading) * speed * t, y: Math.sin(heading) * speed * t, th: theta0 + turn * t, z: zoom0 * Math.exp(climb * t) });

  // Colours of the stuff, drawn per video.
  const crops: RGB[] = Array.from({ length: 3 }, () =>
    rng.float() < 0.5 ? hsv(rng.range(0.18, 0.36), rng.range(0.35, 0.8), rng.range(0.35, 0.8)) : hsv(rng.range(0.07, 0.15), rng.range(0.3, 0.8), rng.range(0.35, 0.9)));
  const meadow = rng.float() < 0.7 ? hsv(rng.range(0.2, 0.35), rng.range(0.3, 0.7), rng.range(0.35, 0.75)) : hsv(rng.range(0.08, 0.16), rng.range(0.2, 0.5), rng.range(0.4, 0.8));
  const forest = rng.float() < 0.75 ? hsv(rng.range(0.22, 0.42), rng.range(0.4, 0.9), rng.range(0.15, 0.45)) : hsv(rng.range(0.02, 0.12), rng.range(0.5, 0.9), rng.range(0.3, 0.6));
  const hedge = scale(mix(forest, meadow, 0.3), rng.range(0.5, 0.8));
  const water = rng.float() < 0.6 ? hsv(rng.range(0.5, 0.62), rng.range(0.3, 0.8), rng.range(0.3, 0.7)) : hsv(rng.range(0.1, 0.45), rng.range(0.2, 0.6), rng.range(0.25, 0.55));
  const glint = mix(water, [1, 1, 1], 0.55), foam = mix(water, [1, 1, 1], 0.4);
  const asphalt = hsv(rng.float(), rng.range(0, 0.12), rng.range(0.25, 0.55));
  const lane: RGB = rng.float() < 0.6 ? [0.92, 0.92, 0.9] : [0.92, 0.8, 0.25];
  const roofColour = (): RGB =>
    rng.pick([hsv(rng.range(0.0, 0.06), rng.range(0.5, 0.8), rng.range(0.45, 0.8)), hsv(rng.float(), rng.range(0, 0.1), rng.range(0.3, 0.75)), scale(rng.pick(paints), 0.8)]);

  // Parcels: cell size and the share of each kind of land.
  const cell = rng.range(26, 44) * S, hedgeW = rng.range(0.5, 1.3) * S;
  const fieldShare = rng.range(0.3, 0.55), meadowShare = rng.range(0.2, 0.4);
  const rowPeriod = rng.range(2.5, 5) * S, crown = rng.range(2.5, 4) * S;
  const kindOf = (ix: number, iy: number) => {
    const h = hash(ix, iy, vseed + 1);
    return h < fieldShare ? FIELD : h < fieldShare + meadowShare ? MEADOW : FOREST;
  };

  // Road and river: which this video has, their courses through the camera's path, what moves on them.
  const hasRoad = index % 3 !== 2 || rng.float() < 0.4, hasRiver = index % 3 !== 0 || rng.float() < 0.4;
  const mid = cam(length / 2);
  const road = hasRoad ? makeCourse(rng, mid.x, mid.y, S, [4, 6], [0, 12]) : null;
  const river = hasRiver ? makeCourse(rng, mid.x, mid.y, S, [6, 13], [4, 22], road ? Math.atan2(road.dy, road.dx) + rng.range(0.6, 2.5) : undefined) : null;
  const cars: Mover[] = [], boats: Mover[] = [];
  const span = 60 * S;
  if (road) {
    for (let k = 2 + rng.int(5); k > 0; k--) {
      // Driving on the right, in the middle of its lane (half the road), 0.5–0.7 of the lane wide.
      const right = rng.float() < 0.5 ? 1 : -1, b = road.half * rng.range(0.25, 0.35);
      cars.push({ course: road, u0: rng.range(-span, span), speed: right * rng.range(0.6, 2.5) * S, side: right * road.half * 0.5, a: b * rng.range(2.2, 2.6), b, colour: rng.pick(paints), trim: hsv(rng.range(0.5, 0.7), rng.range(0, 0.4), rng.range(0.1, 0.3)) });
    }
  }
  if (river) {
    for (let k = 1 + rng.int(3); k > 0; k--) {
      const a = rng.range(3.5, 6) * S;
      boats.push({ course: river, u0: rng.range(-span, span), speed: (rng.float() < 0.5 ? -1 : 1) * rng.range(0.3, 1.4) * S, side: rng.range(-0.4, 0.4) * river.half, a, b: a * rng.range(0.3, 0.4), colour: rng.float() < 0.5 ? [0.93, 0.93, 0.9] : rng.pick(paints), trim: rng.pick(paints) });
    }
  }
  const houses: House[] = [];
  const addHouse = (a: number, b: number, at: { x: number; y: number; hx: number; hy: number }) => {
    const dry = river === null || Math.abs(onCourse(river, at.x, at.y).n) > river.half + a + 2 * S;
    if (dry) houses.push({ ...at, a, b, colour: roofColour() });
  };
  if (road) {
    const village = rng.range(0.3, 0.8);
    for (let u = -2.5 * span; u < 2.5 * span; u += rng.range(10, 22) * S) {
      const a = rng.range(3.5, 7) * S, b = rng.range(2.5, 5) * S;
      const side = (rng.float() < 0.5 ? -1 : 1) * (road.half + b + rng.range(1, 5) * S);
      if (rng.float() < village) addHouse(a, b, courseAt(road, u, side));
    }
  } else {
    for (let k = rng.int(6); k > 0; k--) {
      const th = rng.range(0, 6.28);
      addHouse(rng.range(3.5, 7) * S, rng.range(2.5, 5) * S, { x: mid.x + rng.range(-span, span), y: mid.y + rng.range(-span, span), hx: Math.cos(th), hy: Math.sin(th) });
    }
  }
  const sun = rng.range(0, 6.28), shadowLen = rng.range(1, 3) * S;
  const sdx = Math.cos(sun) * shadowLen, sdy = Math.sin(sun) * shadowLen;
  const clouds = rng.range(0, 0.5), cloudDrift = rng.range(-0.5, 0.5) * S;

  // Lighting and sensor, as the street world's.
  const gain = rng.range(0.7, 1.25), cast = [rng.range(0.85, 1.15), rng.range(0.85, 1.15), rng.range(0.85, 1.15)];
  const lightA = rng.range(0, 6.28), lightK = rng.range(0, 0.35), noise = rng.range(2, 9), blur = rng.int(3);

  /** The ground at world (x, y): class (or OTHERS) and colour, before anything stands on it. */
  const ground = (x: number, y: number, t: number): [number, RGB] => {
    const grain = hash(Math.floor(x / S), Math.floor(y / S), vseed + 3);
    if (river) {
      const { u, n } = onCourse(river, x, y);
      if (Math.abs(n) < river.half) {
        const r = Math.sin(u * 0.9 / S + 1.3 * Math.sin(n * 0.4 / S + t * 0.3) + t * 0.5);
        const bank = clamp01((river.half - Math.abs(n)) / (2 * S));
        return [WATER, r > 0.93 && grain > 0.55 ? glint : scale(water, (0.8 + 0.15 * r) * (0.75 + 0.25 * bank))];
      }
    }
    // Nearest and second-nearest parcel centres.
    const gx = Math.floor(x / cell), gy = Math.floor(y / cell);
    let d1 = Infinity, d2 = Infinity, k1 = 0, i1 = 0, j1 = 0, k2 = 0;
    for (let j = gy - 1; j <= gy + 1; j++) {
      for (let i = gx - 1; i <= gx + 1; i++) {
        const px = (i + 0.15 + 0.7 * hash(i, j, vseed + 4)) * cell, py = (j + 0.15 + 0.7 * hash(i, j, vseed + 5)) * cell;
        const d = Math.hypot(x - px, y - py);
        if (d < d1) {
          d2 = d1; k2 = k1;
          d1 = d; k1 = kindOf(i, j); i1 = i; j1 = j;
        } else if (d < d2) {
          d2 = d; k2 = kindOf(i, j);
        }
      }
    }
    if (d2 - d1 < hedgeW && !(k1 === FOREST && k2 === FOREST)) return [OTHERS, scale(hedge, 0.7 + 0.5 * grain)];
    if (k1 === FIELD) {
      const a = hash(i1, j1, vseed + 6) * Math.PI, c = crops[Math.floor(hash(i1, j1, vseed + 7) * 3)]!;
      const row = 0.5 + 0.5 * Math.sin((2 * Math.PI * (x * Math.cos(a) + y * Math.sin(a))) / rowPeriod);
      return [FIELD, scale(c, (0.7 + 0.35 * row) * (0.9 + 0.2 * grain))];
    }
    if (k1 === MEADOW) return [MEADOW, scale(meadow, (0.75 + 0.4 * vnoise(x / (5 * S), y / (5 * S), vseed + 8)) * (0.8 + 0.3 * grain))];
    // Forest: round crowns on a jittered grid, lit in the middle.
    const cx = Math.floor(x / (1.6 * crown)), cy = Math.floor(y / (1.6 * crown));
    let dc = Infinity, hue = 0;
    for (let j = cy - 1; j <= cy + 1; j++) {
      for (let i = cx - 1; i <= cx + 1; i++) {
        const d = Math.hypot(x - (i + hash(i, j, vseed + 9)) * 1.6 * crown, y - (j + hash(i, j, vseed + 10)) * 1.6 * crown);
        if (d < dc) { dc = d; hue = hash(i, j, vseed + 11); }
      }
    }
    return [FOREST, scale(forest, Math.max(0.35, 1.15 - 0.55 * (dc / crown) ** 2) * (0.85 + 0.3 * hue))];
  };

  const frames: Frame[] = [], masks: Uint8Array[] = [];
  const col = new Float32Array(W * H * 3);
  for (let t = 0; t < length; t++) {
    const c = cam(t), ct = Math.cos(c.th), st = Math.sin(c.th);
    const at = (m: Mover) => ({ m, ...courseAt(m.course, m.u0 + m.speed * t, m.side) });
    const [carsNow, boatsNow] = [cars.map(at), boats.map(at)];
    const mask = new Uint8Array(W * H);
    for (let y = 0; y < H; y++) {
      for (let x = 0; x < W; x++) {
        const px = (x + 0.5 - W / 2) / c.z, py = (y + 0.5 - H / 2) / c.z;
        const wx = c.x + ct * px - st * py, wy = c.y + st * px + ct * py;
        let [cls, rgb] = ground(wx, wy, t);
        // Boats, each with its wake: two foam lines in a V behind it, on water only (not on another boat);
        // then the road (a bridge covers them), then what stands on it.
        for (const { m, x: bx, y: by, hx, hy } of boatsNow) {
          const [along, across] = local(wx, wy, bx, by, hx, hy);
          const behind = -along - m.a;
          if (cls === WATER && behind > 0 && behind < 4 * m.a && Math.abs(Math.abs(across) - 0.35 * behind - 0.5 * m.b) < 0.6 * S) rgb = mix(rgb, foam, 1 - behind / (4 * m.a));
          const f = along / m.a, half = m.b * Math.sqrt(Math.max(0, 1 - f * f)) * (f > 0 ? 1 - 0.6 * f : 1);
          if (Math.abs(f) < 1 && Math.abs(across) < half) {
            cls = BOAT;
            rgb = Math.abs(across) < half - 0.8 * S && f > -0.7 && f < 0.3 ? m.trim : m.colour;
          }
        }
        if (road) {
          const { u, n } = onCourse(road, wx, wy);
          if (Math.abs(n) < road.half) {
            cls = ROAD;
            const dash = Math.abs(n) < 0.45 * S && ((u / (8 * S)) % 1 + 1) % 1 < 0.5;
            rgb = dash ? lane : scale(asphalt, 0.88 + 0.24 * hash(Math.floor(wx / S), Math.floor(wy / S), vseed + 12));
          }
        }
        for (const { m, x: bx, y: by, hx, hy } of carsNow) {
          const [along, across] = local(wx, wy, bx, by, hx, hy);
          if (Math.abs(along) < m.a && Math.abs(across) < m.b) {
            cls = CAR;
            const f = along / m.a * Math.sign(m.speed); // +1 at the front
            rgb = (f > 0.2 && f < 0.5) || (f < -0.55 && f > -0.8) ? m.trim : scale(m.colour, Math.abs(across) < m.b * 0.6 ? 1.1 : 0.85);
          }
        }
        for (const h of houses) {
          const [along, across] = local(wx, wy, h.x, h.y, h.hx, h.hy);
          if (Math.abs(along) < h.a && Math.abs(across) < h.b) {
            cls = ROOF;
            const tiles = 0.9 + 0.15 * ((Math.floor(along / (1.2 * S)) & 1) ? 1 : 0);
            rgb = scale(h.colour, (across > 0 ? 1.15 : 0.7) * tiles);
          } else if (cls !== ROOF) {
            const [sa, sc] = local(wx - h.x - sdx, wy - h.y - sdy, 0, 0, h.hx, h.hy); // the house moved by the sun's offset
            if (Math.abs(sa) < h.a && Math.abs(sc) < h.b) rgb = scale(rgb, 0.55); // its shadow: the ground's class
          }
        }
        if (clouds > 0) {
          const shade = vnoise((wx + cloudDrift * t) / (45 * S), wy / (45 * S), vseed + 13);
          rgb = scale(rgb, 1 - clouds * clamp01((shade - 0.5) * 4));
        }
        const i = y * W + x;
        mask[i] = cls === OTHERS ? 0 : cls + 1;
        col[3 * i] = rgb[0];
        col[3 * i + 1] = rgb[1];
        col[3 * i + 2] = rgb[2];
      }
    }
    frames.push(develop(col, W, H, { gain, cast, lightA, lightK, noise, blur, seed: mixSeed(vseed, t) }));
    masks.push(mask);
  }
  return { name: videoName(index), frames, masks };
}

/** Every file of the aerial set in VSPW's layout, in a fixed order. */
export function* aerialFiles(options: Partial<AerialOptions> = {}): Generator<SynthFile> {
  const o = { ...AERIAL_DEFAULTS, ...options };
  checkSplit('aerial', o.videos, o.valVideos, o.extraVideos);
  checkSize('aerial', o.width, o.height);
  const frames = frameRange('aerial', o.frames), extraFrames = frameRange('aerial', o.extraFrames);
  yield textFile('dataset.json', JSON.stringify({ labels: 'vspw', numClasses: AERIAL_CLASSES.length }));
  yield textFile('classes.json', JSON.stringify(AERIAL_CLASSES));
  yield* splitFiles(o.videos, o.valVideos, o.extraVideos);
  for (let i = 0; i < o.videos + o.extraVideos; i++) {
    const [lo, hi] = i < o.videos ? frames : extraFrames;
    const v = aerialVideo(o.seed, i, lo + makeRng(mixSeed(o.seed, i, 20)).int(hi - lo + 1), o.width, o.height);
    yield* videoFiles(v.name, v.frames, v.masks);
  }
}
