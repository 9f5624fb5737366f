/** Reading an uploaded question set: JSON ([{question, expected}], {questions: [...]}), JSON lines,
 * or CSV (question, then the expected documents: more columns or one cell split by "|"). */
import type { TestQuestion } from "./api";

export const MAX_QUESTIONS = 200;

export interface ParsedQuestions {
  questions: TestQuestion[];
  problems: string[];
}

function fromRecord(row: unknown, where: string, problems: string[]): TestQuestion | null {
  if (!row || typeof row !== "object") {
    problems.push(`${where}: not a question.`);
    return null;
  }
  const record = row as Record<string, unknown>;
  const question = String(record.question ?? record.query ?? "").trim();
  const raw = record.expected ?? record.expected_documents ?? record.document ?? record.documents;
  const expected = (Array.isArray(raw) ? raw : typeof raw === "string" ? raw.split("|") : [])
    .map((value) => String(value).trim())
    .filter(Boolean);
  if (!question || expected.length === 0) {
    problems.push(`${where}: needs a question and at least one expected document.`);
    return null;
  }
  return { question, expected };
}

/** RFC 4180-ish: quoted cells with doubled quotes, commas or semicolons as separators. */
export function csvRows(text: string): string[][] {
  const firstLine = text.split(/\r?\n/, 1)[0] ?? "";
  const separator = (firstLine.match(/;/g)?.length ?? 0) > (firstLine.match(/,/g)?.length ?? 0) ? ";" : ",";
  const rows: string[][] = [];
  let row: string[] = [];
  let cell = "";
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const char = text[i];
    if (quoted) {
      if (char === '"' && text[i + 1] === '"') (cell += '"'), i++;
      else if (char === '"') quoted = false;
      else cell += char;
    } else if (char === '"') quoted = true;
    else if (char === separator) row.push(cell), (cell = "");
    else if (char === "\n" || char === "\r") {
      if (char === "\r" && text[i + 1] === "\n") i++;
      row.push(cell);
      rows.push(row);
      (row = []), (cell = "");
    } else cell += char;
  }
  if (cell || row.length) row.push(cell), rows.push(row);
  return rows.filter((r) => r.some((c) => c.trim()));
}

export function parseQuestionSet(name: string, text: string): ParsedQuestions {
  const problems: string[] = [];
  const questions: TestQuestion[] = [];
  const trimmed = text.trim();
  if (!trimmed) return { questions, problems: ["The file is empty."] };
  const add = (row: unknown, where: string) => {
    const question = fromRecord(row, where, problems);
    if (question) questions.push(question);
  };
  if (/\.jsonl$/i.test(name) || (trimmed.startsWith("{") && trimmed.includes("\n{"))) {
    trimmed.split(/\r?\n/).forEach((line, i) => {
      if (!line.trim()) return;
      try {
        add(JSON.parse(line), `Line ${i + 1}`);
      } catch {
        problems.push(`Line ${i + 1}: not valid JSON.`);
      }
    });
  } else if (/\.json$/i.test(name) || trimmed.startsWith("[") || trimmed.startsWith("{")) {
    try {
      const data: unknown = JSON.parse(trimmed);
      const rows = Array.isArray(data) ? data : (data as { questions?: unknown[] }).questions;
      if (!Array.isArray(rows)) problems.push("Expected a list of questions.");
      else rows.forEach((row, i) => add(row, `Question ${i + 1}`));
    } catch {
      problems.push("The file is not valid JSON.");
    }
  } else {
    const rows = csvRows(trimmed);
    const header = rows[0]?.[0]?.trim().toLowerCase();
    const start = header === "question" || header === "query" ? 1 : 0;
    rows.slice(start).forEach((cells, i) => {
      const [question = "", ...rest] = cells;
      add({ question, expected: rest.flatMap((c) => c.split("|")) }, `Row ${i + start + 1}`);
    });
  }
  if (questions.length > MAX_QUESTIONS) {
    problems.push(`Only the first ${MAX_QUESTIONS} of ${questions.length} questions are kept.`);
    questions.length = MAX_QUESTIONS;
  }
  return { questions, problems };
}
