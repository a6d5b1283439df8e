/* test_labels_relex.c -- relex augmentation and class maps (host/train/labels_relex.c, spec §7.8, §2.9) on cases
   whose outcome the reference's augment_example fixes whatever the draws: drop probabilities of 0 or 1. The targets
   themselves are checked against the reference processor in tests/golden/test_relex_targets.c. */
#include <criterion/criterion.h>
#include <string.h>

#include "train/data.h"
#include "train/labels_relex.h"

static const char* REC =
    "[{\"tokenized_text\": [\"Ada\", \"met\", \"Bob\", \"in\", \"Rome\", \"on\", \"Monday\"],"
    "  \"ner\": [[4, 4, \"city\"], [0, 0, \"person\"], [2, 2, \"person\"], [6, 6, \"day\"]],"
    "  \"relations\": [[1, 2, \"met\"], [1, 0, \"visited\"]]}]";

static void load(TrainData* td) {
    char err[256];
    cr_assert_eq(train_data_load_string(td, REC, strlen(REC), "rec", err, sizeof err), 0, "%s", err);
}

Test(labels_relex, no_augmentation_keeps_the_record) {
    TrainData td;
    load(&td);
    uint64_t rng = 1;
    RelexExample rx;
    const RelexAugment off = {0, {0, 1}, {0, 1}, 0.5};
    relex_example_init(&rx, &td.ex[0], &off, &rng);
    cr_expect(rx.ex.ner == td.ex[0].ner && rx.ex.n_ner == 4 && rx.ex.n_relations == 2 && !rx.n_dropped_ent);
    relex_example_free(&rx);
    train_data_free(&td);
}

Test(labels_relex, dropped_types_become_other_or_go) {
    TrainData td;
    load(&td);
    for (int add_other = 0; add_other < 2; add_other++) {
        uint64_t rng = 7;
        RelexExample rx;
        /* every entity type dropped, no relation type: with add_other the three entities in a relation stay as
           "other" (Monday, in none, goes); without it every entity goes, and with them the relations */
        const RelexAugment aug = {1.0, {1, 1}, {0, 0}, add_other ? 1.0 : 0.0};
        relex_example_init(&rx, &td.ex[0], &aug, &rng);
        cr_expect_eq(rx.n_dropped_ent, 3, "city, person, day dropped: %d", rx.n_dropped_ent);
        if (add_other) {
            cr_assert_eq(rx.ex.n_ner, 3);
            for (int i = 0; i < 3; i++) cr_expect_str_eq(rx.ex.ner[i].label, "other");
            cr_expect(rx.ex.ner[0].start == 4 && rx.ex.ner[1].start == 0 && rx.ex.ner[2].start == 2, "order kept");
            cr_assert_eq(rx.ex.n_relations, 2);
            cr_expect(rx.ex.relations[0].start == 1 && rx.ex.relations[0].end == 2 && rx.ex.relations[1].end == 0);
        } else {
            cr_expect(rx.ex.n_ner == 0 && rx.ex.n_relations == 0, "%d entities, %d relations left", rx.ex.n_ner,
                      rx.ex.n_relations);
        }
        relex_example_free(&rx);
    }
    train_data_free(&td);
}

Test(labels_relex, a_dropped_relation_type_takes_its_entities_along) {
    TrainData td;
    load(&td);
    uint64_t rng = 3;
    RelexExample rx;
    /* every type dropped, add_other: no relation is active any more, so every entity of a dropped type goes */
    const RelexAugment aug = {1.0, {1, 1}, {1, 1}, 1.0};
    relex_example_init(&rx, &td.ex[0], &aug, &rng);
    cr_expect(rx.ex.n_ner == 0 && rx.ex.n_relations == 0);
    cr_expect_eq(rx.n_dropped_rel, 2);
    relex_example_free(&rx);
    train_data_free(&td);
}

Test(labels_relex, class_maps_leave_out_the_dropped_types) {
    TrainData td;
    load(&td);
    uint64_t rng = 11;
    RelexExample rx;
    const RelexAugment aug = {1.0, {0, 0}, {1, 1}, 0.0}; /* relation types only */
    relex_example_init(&rx, &td.ex[0], &aug, &rng);
    ClassMap ent, rel;
    const TrainExample* orig = &td.ex[0];
    classmap_sample_relex(&ent, &rel, &rx, &orig, 1, 100, 0, &rng);
    cr_expect_eq(rel.n, 0, "dropped relation types in the map: %d", rel.n);
    cr_expect_eq(ent.n, 3, "no entity type dropped: all three stay in the map (%d)", ent.n);
    classmap_free(&ent);
    classmap_free(&rel);
    relex_example_free(&rx);
    train_data_free(&td);
}
