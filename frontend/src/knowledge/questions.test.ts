import { describe, expect, it } from "vitest";
import { csvRows, parseQuestionSet } from "./questions";

describe("parseQuestionSet", () => {
  it("reads CSV with a header, quoted commas and several expected documents", () => {
    const text = 'question,expected\n"Where, exactly, is the quay?",tides.md|harbour.md\nWhen do bees swarm?,bees.md,Bees\n';
    expect(parseQuestionSet("set.csv", text)).toEqual({
      questions: [
        { question: "Where, exactly, is the quay?", expected: ["tides.md", "harbour.md"] },
        { question: "When do bees swarm?", expected: ["bees.md", "Bees"] },
      ],
      problems: [],
    });
  });

  it("reads JSON lists, {questions} objects and JSON lines; a string expected is one document", () => {
    const list = '[{"question": "q1", "expected": ["a.md"]}, {"question": "q2", "expected": "b.md"}]';
    expect(parseQuestionSet("set.json", list).questions).toEqual([
      { question: "q1", expected: ["a.md"] },
      { question: "q2", expected: ["b.md"] },
    ]);
    expect(parseQuestionSet("x.json", `{"questions": ${list}}`).questions).toHaveLength(2);
    const lines = '{"question": "q1", "expected": ["a.md"]}\n{"question": "q2", "expected": ["b.md"]}';
    expect(parseQuestionSet("set.jsonl", lines).questions).toHaveLength(2);
  });

  it("names the rows it cannot use instead of guessing", () => {
    const parsed = parseQuestionSet("set.csv", "question,expected\nno expected here\n,only.md\nok?,ok.md\n");
    expect(parsed.questions).toEqual([{ question: "ok?", expected: ["ok.md"] }]);
    expect(parsed.problems).toEqual([
      "Row 2: needs a question and at least one expected document.",
      "Row 3: needs a question and at least one expected document.",
    ]);
    expect(parseQuestionSet("set.json", "{not json").problems).toEqual(["The file is not valid JSON."]);
    expect(parseQuestionSet("set.csv", "  ").problems).toEqual(["The file is empty."]);
  });

  it("splits semicolon CSV (spreadsheet exports in many locales)", () => {
    expect(csvRows('question;expected\n"a;b";c.md\n')).toEqual([
      ["question", "expected"],
      ["a;b", "c.md"],
    ]);
  });
});
