/** schema.sql as facts (pure): statements split safely, facts read, changes found. */
import { deepStrictEqual as assertEquals } from "node:assert/strict";
import { compareFacts, parseTableSchema, splitStatements } from "../../../lib/history/schema.ts";

const SCHEMA = `--
-- Name: orders; Type: TABLE; Schema: shop; Owner: postgres
--
\\restrict abc
SET statement_timeout = 0;
SELECT pg_catalog.set_config('search_path', '', false);

CREATE TABLE shop.orders (
    id integer NOT NULL,
    customer text NOT NULL,
    "Note; x" text DEFAULT 'a;b -- not a comment',
    CONSTRAINT positive CHECK ((id > 0))
);

ALTER TABLE shop.orders OWNER TO postgres;
ALTER TABLE ONLY shop.orders ALTER COLUMN id SET DEFAULT nextval('shop.orders_id_seq'::regclass);
ALTER TABLE ONLY shop.orders
    ADD CONSTRAINT orders_pkey PRIMARY KEY (id, customer);
CREATE INDEX orders_customer_idx ON shop.orders USING btree (customer);
CREATE POLICY "own orders" ON shop.orders FOR SELECT TO authenticated USING ((customer = CURRENT_USER));
CREATE TRIGGER t BEFORE INSERT ON shop.orders FOR EACH ROW EXECUTE FUNCTION shop.f();
ALTER TABLE shop.orders ENABLE ROW LEVEL SECURITY;
COMMENT ON TABLE shop.orders IS $c$CREATE POLICY fake ON shop.orders; 'x'$c$;
GRANT SELECT ON TABLE shop.orders TO anon;
\\unrestrict abc
`;

Deno.test("splitStatements keeps quotes, dollar quotes and comments whole, skips meta-commands", () => {
  assertEquals(
    splitStatements("select 'a;b'; -- c;\nselect $x$ ; $x$;\n\\restrict k\n/* ; */ select \"q;\";"),
    [
      "select 'a;b'",
      "select $x$ ; $x$",
      'select "q;"',
    ],
  );
  assertEquals(splitStatements("select E'it\\'s; ok';"), ["select E'it\\'s; ok'"]);
});

Deno.test("parseTableSchema reads columns, defaults, constraints, key, indexes, policies, triggers, RLS", () => {
  const f = parseTableSchema(SCHEMA);
  assertEquals([...f.columns], [
    ["id", "integer NOT NULL DEFAULT nextval('shop.orders_id_seq'::regclass)"],
    ["customer", "text NOT NULL"],
    ["Note; x", "text DEFAULT 'a;b -- not a comment'"],
  ]);
  assertEquals([...f.constraints.keys()], ["positive", "orders_pkey"]);
  assertEquals(f.primaryKey, ["id", "customer"]);
  assertEquals([...f.indexes.keys()], ["orders_customer_idx"]);
  assertEquals([...f.policies.keys()], ["own orders"]);
  assertEquals([...f.triggers.keys()], ["t"]);
  assertEquals(f.rls, ["enabled"]);
  assertEquals([...f.other].length, 3); // owner, comment (its fake policy stays inside), grant
});

Deno.test("compareFacts names each change", () => {
  const a = parseTableSchema(SCHEMA);
  const b = parseTableSchema(
    SCHEMA.replace("customer text NOT NULL,", "customer varchar(80) NOT NULL,\n    coupon text,")
      .replace("USING ((customer = CURRENT_USER))", "USING (true)")
      .replace("ALTER TABLE shop.orders ENABLE ROW LEVEL SECURITY;", "")
      .replace("GRANT SELECT ON TABLE shop.orders TO anon;", "GRANT ALL ON TABLE shop.orders TO anon;")
      .replace(/CREATE INDEX .*\n/, ""),
  );
  assertEquals(compareFacts(a, b).map((c) => `${c.kind} ${c.name} ${c.change}`), [
    "column customer changed",
    "column coupon added",
    "index orders_customer_idx removed",
    "policy own orders changed",
    "rls enabled removed",
    "other GRANT SELECT ON TABLE shop.orders TO anon removed",
    "other GRANT ALL ON TABLE shop.orders TO anon added",
  ]);
  assertEquals(compareFacts(a, parseTableSchema(SCHEMA)), []);
});
