"""The example application's model: what its code expects the schema to be."""
from sqlalchemy import Column, DateTime, ForeignKey, Integer, SmallInteger, Text
from sqlalchemy.orm import declarative_base

Base = declarative_base()


class Priority(Base):
    __tablename__ = "priorities"
    id = Column(SmallInteger, primary_key=True)
    name = Column(Text, nullable=False, unique=True)


class Task(Base):
    __tablename__ = "tasks"
    id = Column(Integer, primary_key=True)
    title = Column(Text, nullable=False)
    due_date = Column(DateTime(timezone=True))
    priority_id = Column(SmallInteger, ForeignKey("priorities.id"))
