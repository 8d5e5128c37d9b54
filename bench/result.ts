/** One benchmark figure. Every bench/*.ts module returns a list of these to bench/run.ts. */
export interface BenchResult {
  name: string;
  value: number;
  unit: string;
  note?: string;
}
