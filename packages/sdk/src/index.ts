export const v: number = 42;
