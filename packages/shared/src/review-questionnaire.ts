/**
 * The data-review questionnaire every proposal answers: the questions a
 * privacy reviewer asks of any new or wider collection, answered by its author
 * in the author's own words.
 */
import { type Static, Type as T } from "@sinclair/typebox";

/** Each question, by the key its answer has. */
export const QUESTIONS = {
  purpose: "What is the data for?",
  lessData: "Why will less data not do?",
  categories: "Which data categories does it hold, and how sensitive are they?",
  retention: "How long is it kept, and why that long?",
  access: "Who can see it?",
  optOut: "How do owners opt out?",
  regions: "In which regions is it stored, and why there?",
  thirdParties: "Is it shared with anyone outside the maker? Whom, and why?",
} as const;

const ANSWER = T.String({ minLength: 1, maxLength: 4000, pattern: "\\S" });

/** The answers: every question, in words (at most 4000 characters each). */
export const AnswersSchema = T.Object(
  Object.fromEntries(Object.entries(QUESTIONS).map(([key, q]) => [key, { ...ANSWER, description: q }])) as {
    [K in keyof typeof QUESTIONS]: typeof ANSWER;
  },
  { additionalProperties: false },
);
export type Answers = Static<typeof AnswersSchema>;

/** The questions with the key each answer is kept under, in the questionnaire's order. */
export const QUESTION_LIST = Object.entries(QUESTIONS) as [keyof Answers, string][];
