-- Fill a migrated PostgreSQL database with 1,000,000 customers, 20 customer groups and ~600,000
-- memberships (half of them ended) for bench/admin_pages.py. Idempotent: only adds what is missing.
-- Run: psql -h 127.0.0.1 -U postgres -d billingengine_admin -f bench/admin_seed.sql
\timing on
INSERT INTO groups_group (id, name, description, created_at, updated_at)
SELECT md5('bench-group-' || g)::uuid, 'Bench group ' || g, 'Benchmark segment ' || g, now(), now()
FROM generate_series(1, 20) AS g
ON CONFLICT DO NOTHING;

INSERT INTO customers_customer (id, name, external_id, tax_id, vat_id, address_street, address_city,
                                address_zip, address_country, created_at, updated_at)
SELECT md5('bench-customer-' || n)::uuid,
       'Customer ' || n || ' ' || (ARRAY['Ltd', 'GmbH', 'SA', 'Inc', 's.r.o.'])[1 + n % 5],
       'EXT-CU-' || lpad(n::text, 7, '0'),
       'TAX' || (100000000 + n),
       (ARRAY['GB', 'DE', 'FR', 'CZ', 'US'])[1 + n % 5] || (100000000 + n),
       n || ' Example Street', 'City ' || (n % 1000), lpad((n % 99999)::text, 5, '0'),
       (ARRAY['GB', 'DE', 'FR', 'CZ', 'US'])[1 + n % 5],
       timestamptz '2024-01-01' + n * interval '1 minute', timestamptz '2024-01-01' + n * interval '1 minute'
FROM generate_series(1, 1000000) AS n
ON CONFLICT DO NOTHING;

-- 60% of customers have a membership: current for n % 10 < 3, ended for 3 <= n % 10 < 6.
INSERT INTO groups_membership (id, group_id, customer_id, joined_at, left_at)
SELECT md5('bench-membership-' || n)::uuid, md5('bench-group-' || (1 + n % 20))::uuid, md5('bench-customer-' || n)::uuid,
       timestamptz '2025-01-01', CASE WHEN n % 10 >= 3 THEN timestamptz '2025-06-01' END
FROM generate_series(1, 1000000) AS n
WHERE n % 10 < 6
ON CONFLICT DO NOTHING;

VACUUM ANALYZE customers_customer;
VACUUM ANALYZE groups_membership;
VACUUM ANALYZE groups_group;
