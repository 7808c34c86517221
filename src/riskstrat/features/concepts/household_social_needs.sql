-- Social needs noted for the child or anyone else on the child's case (sdoh_needs: a Z55-Z65
-- diagnosis or a positive screening), by domain: a family's housing, food or safety problem is
-- every child's, and a sibling's screening often finds it first.
SELECT h.person_id, n.event_date, n.grp
FROM household_members AS h
INNER JOIN sdoh_needs AS n ON h.member_person_id = n.person_id
