// The mean teacher (docs/METHODS.md §1): a second student whose weights are an exponential moving average
// of the trained student's, m = min(1 − 1/(t + 1), max) at t steps since semi-supervised training
// began. At t = 0 the momentum is 0, so the teacher starts as an exact copy of the student. It never
// receives gradients: its forward passes run under noGrad, and only its parameters (not optimiser
// state) are averaged.
import { EMA, emaMomentum, noGrad, type Tensor } from '../engine/index.ts';
import { Student, type StudentOutput } from '../models/student.ts';

export class MeanTeacher {
  readonly model: Student;
  private readonly ema: EMA;

  constructor(
    student: Student,
    readonly maxMomentum = 0.99,
  ) {
    this.model = new Student(student.config);
    this.ema = new EMA(this.model.ps.list(), student.ps.list());
  }

  /** Average in the student's current weights; t = steps since the teacher was made (0 = copy). */
  update(t: number): void {
    this.ema.update(emaMomentum(t, this.maxMomentum));
  }

  /** The teacher's outputs, without a tape. */
  forward(images: Tensor, opts: { repr?: boolean; clip?: number } = {}): StudentOutput {
    return noGrad(() => this.model.forward(images, opts));
  }

  get tensors(): Map<string, Tensor> {
    return this.model.ps.tensors;
  }

  dispose(): void {
    this.model.ps.dispose();
  }
}
