/** A set that keeps only its newest entries: past `max`, the older half is forgotten. */
export class RecentSet<T> {
  private readonly items = new Set<T>();
  constructor(private readonly max: number) {}

  add(item: T): void {
    this.items.add(item);
    if (this.items.size <= this.max) return;
    let drop = this.items.size - Math.floor(this.max / 2);
    for (const old of this.items) {
      if (drop-- <= 0) break;
      this.items.delete(old);
    }
  }

  has(item: T): boolean {
    return this.items.has(item);
  }

  clear(): void {
    this.items.clear();
  }
}
