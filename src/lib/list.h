/*
 * One intrusive doubly linked list, used as an LRU (head = most recently
 * used, tail = the next to evict) by the process table and, twice per entry
 * (the whole table's order and its owner's), by the fd table. A node is
 * embedded in the entry; saker_list_entry() gets the entry back. No
 * allocation, no sentinel: an empty list has head == tail == NULL.
 */
#ifndef SAKER_LIST_H
#define SAKER_LIST_H

#include <stdbool.h>
#include <stddef.h>

struct saker_list_node {
	struct saker_list_node *prev, *next;
};

struct saker_list {
	struct saker_list_node *head, *tail;
};

/* The struct of type that holds node as its member (NULL stays NULL). */
#define saker_list_entry(node, type, member)                                                       \
	((node) ? (type *)(void *)((char *)(node)-offsetof(type, member)) : (type *)NULL)

static inline void saker_list_init(struct saker_list *l)
{
	l->head = l->tail = NULL;
}

static inline void saker_list_unlink(struct saker_list *l, struct saker_list_node *n)
{
	if (n->prev)
		n->prev->next = n->next;
	else
		l->head = n->next;
	if (n->next)
		n->next->prev = n->prev;
	else
		l->tail = n->prev;
	n->prev = n->next = NULL;
}

static inline void saker_list_push_front(struct saker_list *l, struct saker_list_node *n)
{
	n->prev = NULL;
	n->next = l->head;
	if (l->head)
		l->head->prev = n;
	else
		l->tail = n;
	l->head = n;
}

/* Marks n most recently used. */
static inline void saker_list_touch(struct saker_list *l, struct saker_list_node *n)
{
	if (l->head != n) {
		saker_list_unlink(l, n);
		saker_list_push_front(l, n);
	}
}

#endif
